package compose

import (
	"bufio"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDockerfile checks what docs/deploy.md promises of the image without a
// Docker engine: several stages, a non-root user, a healthcheck through
// `pika health`, and a binary built with CGO_ENABLED=0 — which this test
// builds the same way and checks is static (no ELF interpreter) and runs.
func TestDockerfile(t *testing.T) {
	f, err := os.Open("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var froms int
	var user, health, build string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "FROM "):
			froms++
		case strings.HasPrefix(line, "USER "):
			user = strings.TrimSpace(strings.TrimPrefix(line, "USER "))
		case strings.HasPrefix(line, "HEALTHCHECK "):
			health = line
			for strings.HasSuffix(health, "\\") && sc.Scan() {
				health += sc.Text()
			}
		case strings.Contains(line, "go build"):
			build = line
		}
	}
	if froms < 2 {
		t.Errorf("%d FROM lines: the image must be multi-stage (no toolchain in it)", froms)
	}
	if user == "" || user == "root" || strings.HasPrefix(user, "0") {
		t.Errorf("USER %q: the image must not run as root", user)
	}
	if !strings.Contains(health, "pika") || !strings.Contains(health, "health") {
		t.Errorf("HEALTHCHECK %q: want one through pika health (the image has no shell or curl)", health)
	}
	if !strings.Contains(build, "CGO_ENABLED=0") {
		t.Errorf("build line %q: the binary must be static (CGO_ENABLED=0)", build)
	}

	bin := filepath.Join(t.TempDir(), "pika")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "../cmd/pika")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build ./cmd/pika: %v\n%s", err, out)
	}
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary asks for a dynamic loader: it is not static")
		}
	}
	if out, err := exec.Command(bin, "version").CombinedOutput(); err != nil {
		t.Errorf("pika version: %v\n%s", err, out)
	}
}
