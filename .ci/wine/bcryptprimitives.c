/* A stand-in for Windows' bcryptprimitives.dll, which Wine 8.0 lacks and Go
 * (since 1.22) loads at startup for ProcessPrng. ProcessPrng fills a buffer
 * with random bytes and never fails; advapi32's SystemFunction036
 * (RtlGenRandom) does the same, but takes a ULONG length: longer buffers
 * are filled in pieces. Built by .ci/wine/setup, never committed as a binary. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buf, ULONG len);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	while (len > 0) {
		ULONG n = len > 0x80000000 ? 0x80000000 : (ULONG)len;
		if (!SystemFunction036(data, n))
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}
