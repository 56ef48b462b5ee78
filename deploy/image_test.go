package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/taskfleet/taskfleet/internal/fleettest"
)

// TestDockerfile checks the image recipe against the repository and the
// compose file: the Go version, a static build of both binaries, a
// non-root runtime with the tools the compose health checks run, the
// examples where the job expects them, and binaries on PATH.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	args, stages := parseDockerfile(string(readFile(t, repoPath(t, "Dockerfile"))))
	if len(stages) < 2 {
		t.Fatalf("Dockerfile: %d stages, want a build stage and a runtime stage", len(stages))
	}
	build, runtime := stages[0], stages[len(stages)-1]

	// The builder's Go must satisfy go.mod's go directive.
	gomod := string(readFile(t, repoPath(t, "go.mod")))
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+(?:\.\d+)?)$`).FindStringSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	from := build.From
	for k, v := range args {
		from = strings.ReplaceAll(from, "${"+k+"}", v)
	}
	img, tag, _ := strings.Cut(from, ":")
	if img != "golang" {
		t.Errorf("build stage FROM %s, want golang", build.From)
	}
	if version := strings.SplitN(tag, "-", 2)[0]; compareVersions(version, m[1]) < 0 {
		t.Errorf("build stage Go %s is older than go.mod's go %s (the build would fail with GOTOOLCHAIN=local)", version, m[1])
	}
	var goBuild string
	for _, in := range build.Insns {
		if in.Cmd == "RUN" && strings.Contains(in.Args, "go build") {
			goBuild = in.Args
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "./cmd/dispatcher", "./cmd/worker", "--mount=type=cache,target=/go/pkg/mod"} {
		if !strings.Contains(goBuild, want) {
			t.Errorf("Dockerfile: the go build step %q lacks %q", goBuild, want)
		}
	}

	var user, entry string
	var copies, runs []string
	for _, in := range runtime.Insns {
		switch in.Cmd {
		case "USER":
			user = in.Args
		case "ENTRYPOINT":
			entry = in.Args
		case "COPY":
			copies = append(copies, in.Args)
		case "RUN":
			runs = append(runs, in.Args)
		}
	}
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "root" || u == "0" {
		t.Errorf("runtime stage runs as %q, want a non-root user", user)
	}
	if !slices.Contains(copies, "examples/ /opt/taskfleet/examples/") {
		t.Errorf("runtime stage does not copy examples/ to /opt/taskfleet/examples/ (COPY lines: %q)", copies)
	}
	if !slices.ContainsFunc(copies, func(c string) bool {
		return strings.HasPrefix(c, "--from=") && strings.Contains(c, "dispatcher") && strings.Contains(c, "worker") && strings.HasSuffix(c, " /usr/local/bin/")
	}) {
		t.Errorf("runtime stage does not copy dispatcher and worker to /usr/local/bin/ (compose runs them by name)")
	}
	if strings.Contains(entry, "tini") && !slices.ContainsFunc(runs, func(r string) bool { return strings.Contains(r, "tini") }) {
		t.Errorf("ENTRYPOINT %s, but no RUN installs tini", entry)
	}
	// The compose health checks of the taskfleet services run wget inside
	// this image: distroless has none, Alpine's busybox has it.
	cf := loadCompose(t, noEnv)
	for name := range cf.taskfleetServices() {
		if hc := cf.Services[name].Healthcheck; hc != nil && slices.Contains(hc.Test, "wget") {
			rt := runtime.From
			for k, v := range args {
				rt = strings.ReplaceAll(rt, "${"+k+"}", v)
			}
			if !strings.HasPrefix(rt, "alpine") && !strings.HasPrefix(rt, "busybox") {
				t.Errorf("service %s's healthcheck runs wget, which the runtime image %s does not have", name, rt)
			}
		}
	}
}

// compareVersions compares dotted version numbers.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(as), len(bs)) {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x - y
		}
	}
	return 0
}

// TestDockerignoreKeepsWhatTheBuildNeeds checks that .dockerignore leaves
// in the build context every file `go build ./cmd/dispatcher ./cmd/worker`
// reads (as `go list -deps` reports them), go.mod and go.sum, and all of
// examples/.
func TestDockerignoreKeepsWhatTheBuildNeeds(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	di, err := parseDockerignore(string(readFile(t, filepath.Join(root, ".dockerignore"))))
	if err != nil {
		t.Fatal(err)
	}
	r := fleettest.Run(t, fleettest.Cmd{Path: "go", Dir: root,
		Args: []string{"list", "-deps", "-json=Dir,GoFiles,CgoFiles,SFiles,EmbedFiles,Module", "./cmd/dispatcher", "./cmd/worker"}})
	if r.Code != 0 {
		t.Fatalf("go list failed\n%s", r)
	}
	out := r.Stdout
	need := []string{"go.mod", "go.sum"}
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var p struct {
			Dir                                   string
			GoFiles, CgoFiles, SFiles, EmbedFiles []string
			Module                                *struct{ Main bool }
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.Module == nil || !p.Module.Main {
			continue
		}
		for _, f := range slices.Concat(p.GoFiles, p.CgoFiles, p.SFiles, p.EmbedFiles) {
			rel, err := filepath.Rel(root, filepath.Join(p.Dir, f))
			if err != nil {
				t.Fatal(err)
			}
			need = append(need, rel)
		}
	}
	if len(need) < 10 {
		t.Fatalf("go list found only %d files; the check is not working", len(need))
	}
	_ = filepath.WalkDir(filepath.Join(root, "examples"), func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			rel, _ := filepath.Rel(root, p)
			need = append(need, rel)
		}
		return nil
	})
	for _, f := range need {
		if ex, by := di.excluded(filepath.ToSlash(f)); ex {
			t.Errorf(".dockerignore line %q leaves %s out of the build context; the image needs it", by, f)
		}
	}
	// And the heavy or secret things stay out.
	for _, f := range []string{".git/config", "bin/worker", ".taskfleet/tasks.db", "deploy/compose.yaml"} {
		if ex, _ := di.excluded(f); !ex {
			t.Errorf(".dockerignore does not exclude %s", f)
		}
	}
}
