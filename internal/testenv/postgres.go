package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgreSQL for tests: one throwaway cluster per test binary, made with
// initdb and started with pg_ctl on the first call to Postgres or
// PostgresCluster, and a fresh database per test.
//
// The cluster is the one piece of package-level state allowed here: starting
// PostgreSQL costs about a second, so the tests of one binary share it. Each
// test binary that uses it stops it from its TestMain:
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		testenv.StopPostgres()
//		os.Exit(code)
//	}
//
// A binary that dies without StopPostgres (a test timeout panics past
// TestMain) leaves nothing behind either: a watchdog shell started with the
// cluster stops it and removes its folder once the test process is gone.
//
// The cluster runs with fsync=off (a crash of the machine is not what these
// tests test); PIKA_TEST_PG_FSYNC=on turns fsync back on, for benchmarks
// that should pay what production pays.
var pg struct {
	once    sync.Once
	cluster *Cluster
	err     error // why the cluster could not start
	missing bool  // PostgreSQL is not installed: skip locally, fail in CI
}

// Cluster is the test binary's PostgreSQL server.
type Cluster struct {
	bin  string // PostgreSQL's bin folder
	dir  string // the cluster's folder: data/, the log and the unix socket
	port int
	// asUser runs PostgreSQL's programs as the postgres user when the tests
	// run as root (PostgreSQL refuses to run as root).
	asUser   string
	watchdog *os.Process
	fsync    string // "on" or "off", PostgreSQL's fsync setting

	// mu serializes Stop, Start and CREATE DATABASE: concurrent CREATE
	// DATABASE from template1 can fail while another copy is in progress.
	mu sync.Mutex
}

// Postgres returns the URL of a new, empty database on the test binary's
// cluster, dropped when the test ends. Without PostgreSQL installed the test
// is skipped, or fails under CI=true.
func Postgres(t testing.TB) string {
	t.Helper()
	c := PostgresCluster(t)
	name := "t_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testenv: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// FORCE ends connections a test left open (PostgreSQL ≥ 13). A
		// failure is only logged: the whole cluster is thrown away anyway.
		if err := c.exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("testenv: drop database %s: %v", name, err)
		}
	})
	return c.DSN(name)
}

// PostgresCluster returns the test binary's cluster, starting it on first
// use. Tests that Stop it must not run in parallel with other tests of the
// same binary that use PostgreSQL, and must Start it again before they end.
func PostgresCluster(t testing.TB) *Cluster {
	t.Helper()
	pg.once.Do(func() {
		fsync := "off" // tests check correctness; fsync only slows them
		if os.Getenv("PIKA_TEST_PG_FSYNC") == "on" {
			fsync = "on"
		}
		pg.cluster, pg.missing, pg.err = startCluster(fsync)
	})
	switch {
	case pg.err == nil:
		return pg.cluster
	case pg.missing && !CI():
		t.Skipf("testenv: %v", pg.err)
	case pg.missing:
		t.Fatalf("testenv: PostgreSQL is required in CI: %v", pg.err)
	default:
		t.Fatalf("testenv: %v", pg.err)
	}
	return nil
}

// StopPostgres stops the test binary's cluster, if one was started, and
// removes its folder. Call it from TestMain after m.Run.
func StopPostgres() {
	c := pg.cluster
	if c == nil {
		return
	}
	if c.watchdog != nil {
		_ = c.watchdog.Kill()
		_, _ = c.watchdog.Wait()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		_ = c.run(ctx, "pg_ctl", "-D", c.data(), "stop", "-m", "immediate")
	}
	_ = os.RemoveAll(c.dir)
}

// DSN is the URL of database name on this cluster.
func (c *Cluster) DSN(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, name)
}

// Port is the TCP port the cluster listens on (127.0.0.1), the same across
// Stop and Start.
func (c *Cluster) Port() int { return c.port }

// Stop shuts the server down (fast mode: open connections are cut, as in an
// outage). Databases survive; Start brings them back on the same port.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.run(ctx, "pg_ctl", "-D", c.data(), "-w", "-t", "60", "stop", "-m", "fast"); err != nil {
		return fmt.Errorf("testenv: stop PostgreSQL: %w", err)
	}
	return nil
}

// Start starts a stopped server again and waits until it accepts connections.
func (c *Cluster) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	return c.start(ctx)
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

func (c *Cluster) start(ctx context.Context) error {
	fsync := c.fsync
	// pg_ctl hands -o to a shell: the folder comes from MkdirTemp, without
	// spaces or quotes.
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=%s -c max_connections=300", c.port, c.dir, fsync)
	err := c.run(ctx, "pg_ctl", "-D", c.data(), "-l", filepath.Join(c.dir, "postgres.log"), "-w", "-t", "60", "-o", opts, "start")
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "postgres.log"))
		return fmt.Errorf("testenv: start PostgreSQL: %w\n%s", err, lastLines(string(log), 20))
	}
	return nil
}

// exec runs one statement in the cluster's postgres database.
func (c *Cluster) exec(ctx context.Context, sql string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// run runs one of PostgreSQL's programs, as the postgres user when we are root.
func (c *Cluster) run(ctx context.Context, prog string, args ...string) error {
	path := filepath.Join(c.bin, prog)
	var cmd *exec.Cmd
	if c.asUser == "" {
		cmd = exec.CommandContext(ctx, path, args...)
	} else {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.asUser, "--", path}, args...)...)
	}
	// PostgreSQL's programs open files relative to the working folder; the
	// test's may be unreadable to the postgres user.
	cmd.Dir = c.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", prog, strings.Join(args, " "), err, lastLines(string(out), 20))
	}
	return nil
}

// startCluster makes and starts the cluster. missing reports that
// PostgreSQL is not installed, as opposed to installed and failing.
func startCluster(fsync string) (c *Cluster, missing bool, err error) {
	bin, err := postgresBin()
	if err != nil {
		return nil, true, err
	}
	c = &Cluster{bin: bin, fsync: fsync}
	if os.Geteuid() == 0 {
		if _, err := exec.LookPath("runuser"); err != nil {
			return nil, true, errors.New("running as root needs runuser (util-linux) to run PostgreSQL as the postgres user")
		}
		c.asUser = "postgres"
	}
	// Not t.TempDir: the cluster outlives any one test, and a test's temp
	// folder is not readable by the postgres user.
	c.dir, err = os.MkdirTemp("", "pika-pg-")
	if err != nil {
		return nil, false, fmt.Errorf("make the cluster's folder: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(c.dir)
		}
	}()
	if c.asUser != "" {
		u, err := user.Lookup(c.asUser)
		if err != nil {
			return nil, true, fmt.Errorf("running as root needs a postgres user (the Debian package makes it): %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(c.dir, uid, gid); err != nil {
			return nil, false, fmt.Errorf("give the cluster's folder to postgres: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := c.run(ctx, "initdb", "-D", c.data(), "-U", "postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync"); err != nil {
		return nil, false, err
	}
	// A free port can be taken between our check and PostgreSQL's bind:
	// try a few.
	for attempt := 0; ; attempt++ {
		if c.port, err = freePort(); err != nil {
			return nil, false, err
		}
		if err = c.start(ctx); err == nil {
			break
		}
		if attempt == 2 {
			return nil, false, err
		}
	}
	c.watchdog = startWatchdog(c)
	ok = true
	return c, false, nil
}

// startWatchdog starts a shell that waits for this process to end, then
// stops the cluster and removes its folder, in case StopPostgres never runs.
// It ignores the terminal's signals (Ctrl-C reaches the whole process group)
// and writes nowhere, so `go test` does not wait on its output.
func startWatchdog(c *Cluster) *os.Process {
	stop := fmt.Sprintf("%q -D %q stop -m immediate", filepath.Join(c.bin, "pg_ctl"), c.data())
	if c.asUser != "" {
		stop = "runuser -u " + c.asUser + " -- " + stop
	}
	script := fmt.Sprintf(`trap "" INT TERM HUP; while kill -0 %d 2>/dev/null; do sleep 1; done; cd /; %s >/dev/null 2>&1; rm -rf %q`,
		os.Getpid(), stop, c.dir)
	cmd := exec.Command("sh", "-c", script)
	if err := cmd.Start(); err != nil {
		return nil
	}
	return cmd.Process
}

// postgresBin finds the folder of initdb and pg_ctl: pg_config --bindir,
// else the newest /usr/lib/postgresql/*/bin (Debian keeps them off PATH),
// else PATH.
func postgresBin() (string, error) {
	has := func(dir string) bool {
		for _, p := range []string{"initdb", "pg_ctl", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, p)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); has(dir) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, dir := range dirs {
		if has(dir) {
			return dir, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil && has(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
		if has(filepath.Dir(p)) {
			return filepath.Dir(p), nil
		}
	}
	return "", errors.New("PostgreSQL is not installed (no initdb: pg_config --bindir, /usr/lib/postgresql/*/bin, PATH); on Debian: apt-get install postgresql")
}

// pgVersion reads 15 from /usr/lib/postgresql/15/bin (0 if not a number).
func pgVersion(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// StartPostgres starts a cluster of its own, outside any test (the load
// generator uses one to measure persisting), with fsync as PostgreSQL ships
// it (on) unless PIKA_TEST_PG_FSYNC=off. Close stops it and removes it.
func StartPostgres() (*Cluster, error) {
	fsync := "on" // the measured figure is the real one
	if os.Getenv("PIKA_TEST_PG_FSYNC") == "off" {
		fsync = "off"
	}
	c, _, err := startCluster(fsync)
	return c, err
}

// Close stops a cluster from StartPostgres and removes its folder.
func (c *Cluster) Close() {
	if c.watchdog != nil {
		_ = c.watchdog.Kill()
		_, _ = c.watchdog.Wait()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Stop(); err != nil {
		_ = c.run(ctx, "pg_ctl", "-D", c.data(), "stop", "-m", "immediate")
	}
	_ = os.RemoveAll(c.dir)
}

// CreateDatabase makes an empty database on the cluster and returns its URL.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) (string, error) {
	if err := c.exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("testenv: create database %s: %w", name, err)
	}
	return c.DSN(name), nil
}
