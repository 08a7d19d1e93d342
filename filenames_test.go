package keepalive

import (
	"bufio"
	"go/build/constraint"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The per-OS file rule (docs/platforms.md#files), checked on every .go file
// of the repository, nested modules included.
func TestFileNamesFollowTheRule(t *testing.T) {
	type variant struct {
		path string
		oses map[string]bool
	}
	features := map[string][]variant{} // dir/feature -> its per-OS files
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		line, err := buildLine(path)
		if err != nil {
			return err
		}
		feature, word := osWord(filepath.Base(path))
		oses := osSet(line, word)
		want, rule := map[string]bool{}, ""
		switch {
		case word == "":
			want, rule = allOSes(), "no OS word: builds on every OS"
		case word == "unix" || word == "bsd":
			for _, os := range knownOS {
				if family[word](os) {
					want[os] = true
				}
			}
			rule = "_" + word + ": a build line naming exactly that family"
		case word == "none":
			if line == nil {
				t.Errorf("%s: _none needs a build line saying where the feature is absent", path)
			}
			want = oses // checked against the other variants below
		default:
			want = osSet(nil, word)
			rule = "_" + word + ": builds on " + word + " only, all of it"
			if line != nil && namesOS(line) {
				t.Errorf("%s: a _%s file needs no OS in its build line %q (only tags such as race)", path, word, line)
			}
		}
		if !maps(oses, want) {
			t.Errorf("%s builds on %v; the rule says %s (%v)", path, keys(oses), rule, keys(want))
		}
		if word != "" && !strings.HasSuffix(path, "_test.go") {
			key := filepath.Join(filepath.Dir(path), feature)
			features[key] = append(features[key], variant{path, oses})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A feature's variants never overlap, and its _none file covers
	// every OS the others leave, among all or among the Unix family
	// (a feature only Unix code calls).
	for key, vs := range features {
		seen := map[string]string{}
		hasNone := false
		for _, v := range vs {
			hasNone = hasNone || strings.HasSuffix(v.path, "_none.go")
			for os := range v.oses {
				if other, ok := seen[os]; ok {
					t.Errorf("%s and %s both build on %s", other, v.path, os)
				}
				seen[os] = v.path
			}
		}
		if !hasNone {
			continue
		}
		all, unix := allOSes(), map[string]bool{}
		for _, os := range knownOS {
			if family["unix"](os) {
				unix[os] = true
			}
		}
		got := map[string]bool{}
		for os := range seen {
			got[os] = true
		}
		if !maps(got, all) && !maps(got, unix) {
			t.Errorf("%s: its variants build on %v: with a _none file they must cover every OS, or every Unix", key, keys(got))
		}
	}
}

// knownOS is Go's list of GOOS values (go/build/syslist.go).
var knownOS = []string{"aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js",
	"linux", "nacl", "netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows", "zos"}

var family = map[string]func(string) bool{
	"unix": func(os string) bool {
		return slices.Contains([]string{"aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios",
			"linux", "netbsd", "openbsd", "solaris"}, os)
	},
	"bsd": func(os string) bool {
		return slices.Contains([]string{"darwin", "ios", "dragonfly", "freebsd", "netbsd", "openbsd"}, os)
	},
}

// osWord splits a file name into its feature and OS word: "status_linux.go"
// is status and linux, "conn_linux_test.go" conn_test and linux,
// "platforms.go" platforms and no word.
func osWord(name string) (feature, word string) {
	name = strings.TrimSuffix(name, ".go")
	test := strings.HasSuffix(name, "_test")
	name = strings.TrimSuffix(name, "_test")
	i := strings.LastIndexByte(name, '_')
	if i > 0 {
		w := name[i+1:]
		if slices.Contains(knownOS, w) || w == "unix" || w == "bsd" || w == "none" {
			feature, word = name[:i], w
		}
	}
	if word == "" {
		feature = name
	}
	if test {
		feature += "_test"
	}
	return feature, word
}

// osSet is where a file builds: its build line, for some value of the tags
// that are not OSes (race, cgo), and its OS suffix.
func osSet(line constraint.Expr, word string) map[string]bool {
	set := map[string]bool{}
	for _, goos := range knownOS {
		if word != "" && word != "unix" && word != "bsd" && word != "none" && !satisfies(goos, word) {
			continue
		}
		for _, others := range []bool{false, true} {
			if line == nil || line.Eval(func(tag string) bool {
				if slices.Contains(knownOS, tag) || tag == "unix" {
					return satisfies(goos, tag)
				}
				return others
			}) {
				set[goos] = true
			}
		}
	}
	return set
}

// satisfies reports whether GOOS goos satisfies build tag tag, as the go
// command has it: android is also linux, illumos solaris, ios darwin.
func satisfies(goos, tag string) bool {
	switch {
	case tag == goos, tag == "unix" && family["unix"](goos):
		return true
	case goos == "android":
		return tag == "linux"
	case goos == "illumos":
		return tag == "solaris"
	case goos == "ios":
		return tag == "darwin"
	}
	return false
}

func buildLine(path string) (constraint.Expr, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		l := s.Text()
		if strings.HasPrefix(l, "package ") {
			break
		}
		if constraint.IsGoBuild(l) {
			return constraint.Parse(l)
		}
	}
	return nil, s.Err()
}

func allOSes() map[string]bool {
	m := map[string]bool{}
	for _, os := range knownOS {
		m[os] = true
	}
	return m
}

func maps(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func keys(m map[string]bool) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// namesOS reports whether a build line names an OS or a family.
func namesOS(e constraint.Expr) bool {
	switch e := e.(type) {
	case *constraint.TagExpr:
		return slices.Contains(knownOS, e.Tag) || e.Tag == "unix"
	case *constraint.NotExpr:
		return namesOS(e.X)
	case *constraint.AndExpr:
		return namesOS(e.X) || namesOS(e.Y)
	case *constraint.OrExpr:
		return namesOS(e.X) || namesOS(e.Y)
	}
	return false
}
