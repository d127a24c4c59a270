package migrations_test

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"github.com/pika-dj/pika/migrations"
)

// contracting statements: what would break the version still running
// during a rolling deploy (docs/deploy.md §6), which reads the schema the
// new migrations leave.
var contracting = regexp.MustCompile(`(?i)\b(DROP\s+(TABLE|COLUMN|SCHEMA|INDEX|VIEW|TYPE|FUNCTION)|RENAME\b|ALTER\s+COLUMN\s+\S+\s+(SET\s+DATA\s+)?TYPE\b|ALTER\s+COLUMN\s+\S+\s+SET\s+NOT\s+NULL|TRUNCATE\b)`)

// TestMigrationsOnlyExpand: every migration's Up part only adds (tables,
// columns, indexes), so the old and the new code both run on the new
// schema while a rolling deploy replaces one process after another. A
// contracting change goes in a later release, once no old code runs: give
// it its own file and list it in allowedContractions with the reason.
func TestMigrationsOnlyExpand(t *testing.T) {
	allowedContractions := map[string]string{}
	files, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("migration files: %v %v", files, err)
	}
	for _, name := range files {
		b, err := fs.ReadFile(migrations.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		up, _, found := strings.Cut(string(b), "-- +goose Down")
		if !found {
			t.Errorf("%s: no -- +goose Down section", name)
		}
		for _, line := range strings.Split(up, "\n") {
			code, _, _ := strings.Cut(line, "--")
			if m := contracting.FindString(code); m != "" {
				if why, ok := allowedContractions[name]; ok {
					t.Logf("%s: %q allowed: %s", name, m, why)
					continue
				}
				t.Errorf("%s: %q in its Up part: migrations must only expand (docs/deploy.md §6)", name, strings.TrimSpace(line))
			}
		}
	}
}
