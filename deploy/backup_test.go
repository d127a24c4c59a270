package deploy

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pika-dj/pika/accounts"
	"github.com/pika-dj/pika/bus"
	"github.com/pika-dj/pika/internal/testenv"
	"github.com/pika-dj/pika/migrations"
	"github.com/pika-dj/pika/persister/persistertest"
	"github.com/pika-dj/pika/persister/pgstore"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopPostgres()
	os.Exit(code)
}

// rowCounts counts the rows of every table in the schemas we own.
func rowCounts(t *testing.T, ctx context.Context, pool *pgxpool.Pool) map[string]int64 {
	t.Helper()
	rows, err := pool.Query(ctx, `SELECT schemaname || '.' || tablename FROM pg_tables
		WHERE schemaname IN ('public', 'accounts') ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	counts := map[string]int64{}
	for _, name := range tables {
		var n int64
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+name).Scan(&n); err != nil {
			t.Fatalf("count %s: %v", name, err)
		}
		counts[name] = n
	}
	return counts
}

func script(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("sh", args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestBackupRestoreDrill: scripts/backup.sh dumps a database holding a night
// of plays and crowd actions and a DJ account; scripts/restore.sh puts it
// into a new, empty database; every table has the same number of rows.
func TestBackupRestoreDrill(t *testing.T) {
	ctx := context.Background()
	src := testenv.Postgres(t)
	db, err := migrations.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrations.Up(ctx, db); err != nil {
		t.Fatal(err)
	}
	db.Close()
	store, err := pgstore.Open(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	w := persistertest.Night(bus.NewDJID(), 1500)
	var events []bus.Event
	var actions []bus.Action
	for _, it := range w.Items {
		if it.Event != nil {
			events = append(events, *it.Event)
		} else {
			actions = append(actions, *it.Action)
		}
	}
	if err := store.WriteBatch(ctx, events, actions); err != nil {
		t.Fatal(err)
	}
	acc, err := accounts.New(store.Pool(), accounts.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acc.Register(ctx, "drill-dj", "a long enough password", "DJ Drill"); err != nil {
		t.Fatal(err)
	}
	before := rowCounts(t, ctx, store.Pool())

	dir := t.TempDir()
	cmd := exec.Command("sh", "../scripts/backup.sh", "check")
	cmd.Env = append(os.Environ(), "BACKUP_DIR="+dir, "BACKUP_EVERY=3600")
	if err := cmd.Run(); err == nil {
		t.Error("backup.sh check passed with no dump at all")
	}
	t.Log(strings.TrimSpace(script(t, []string{"DATABASE_URL=" + src, "BACKUP_DIR=" + dir}, "../scripts/backup.sh", "once")))
	script(t, []string{"BACKUP_DIR=" + dir, "BACKUP_EVERY=3600"}, "../scripts/backup.sh", "check")
	dumps, err := filepath.Glob(filepath.Join(dir, "pika-*.dump"))
	if err != nil || len(dumps) != 1 {
		t.Fatalf("dumps %v, %v: want one", dumps, err)
	}

	cluster := testenv.PostgresCluster(t)
	name := fmt.Sprintf("drill_%d", os.Getpid())
	if _, err := store.Pool().Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	// Deferred after store.Close, so it runs first, while the pool is open.
	defer func() {
		_, _ = store.Pool().Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	}()
	dst := cluster.DSN(name)
	t.Log(strings.TrimSpace(script(t, []string{"DATABASE_URL=" + dst}, "../scripts/restore.sh", dumps[0])))
	pool, err := pgxpool.New(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	after := rowCounts(t, ctx, pool)
	pool.Close()

	if len(before) == 0 {
		t.Fatal("no tables counted")
	}
	for table, n := range before {
		if after[table] != n {
			t.Errorf("%s: %d rows before, %d after the restore", table, n, after[table])
		}
	}
	for _, table := range []string{"public.plays", "public.likes", "accounts.dj_accounts"} {
		if before[table] == 0 {
			t.Errorf("%s is empty: the drill proves nothing about it", table)
		}
	}
	t.Logf("restored %d tables; rows: %v", len(after), after)
}
