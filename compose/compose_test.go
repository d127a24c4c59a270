package compose

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// secrets are what prod.yml requires from its env file (${VAR:?…}).
var secrets = []string{
	"PIKA_VERSION=v1.2.3",
	"POSTGRES_PASSWORD=pw-not-real",
	"PIKA_NATS_GATEWAY_PASSWORD=gateway-password-not-real",
	"PIKA_NATS_PERSISTER_PASSWORD=persister-password-not-real",
	"PIKA_NATS_ADMIN_PASSWORD=admin-password-not-real",
	"PIKA_PUBLIC_URL=https://pika.example.com",
	"TUNNEL_TOKEN=not-a-real-token",
}

func load(t *testing.T, env []string, files ...string) (*types.Project, error) {
	t.Helper()
	opts, err := cli.NewProjectOptions(files,
		cli.WithWorkingDirectory("."),
		cli.WithEnv(env),
		cli.WithInterpolation(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(context.Background())
}

func mustLoad(t *testing.T, env []string, files ...string) *types.Project {
	t.Helper()
	p, err := load(t, env, files...)
	if err != nil {
		t.Fatalf("load %v: %v", files, err)
	}
	return p
}

// oneShot services run to completion (migrations) and need no healthcheck.
func oneShot(s types.ServiceConfig) bool { return s.Restart == "no" }

// pikaImage: the service runs our binary (built or pulled).
func pikaImage(s types.ServiceConfig) bool {
	return s.Build != nil || strings.Contains(s.Image, "pika-dj/pika") || strings.HasPrefix(s.Image, "pika:")
}

func checkCommon(t *testing.T, p *types.Project) {
	t.Helper()
	migrate, ok := p.Services["migrate"]
	if !ok {
		t.Fatalf("%s: no migrate service", p.Name)
	}
	if !slices.Equal([]string(migrate.Command), []string{"migrate", "up"}) {
		t.Errorf("%s: migrate runs %q, want migrate up", p.Name, migrate.Command)
	}
	if dep, ok := migrate.DependsOn["postgres"]; !ok || dep.Condition != types.ServiceConditionHealthy {
		t.Errorf("%s: migrate must wait for a healthy postgres, has %+v", p.Name, migrate.DependsOn)
	}
	for name, s := range p.Services {
		if oneShot(s) {
			continue
		}
		if s.Restart == "" {
			t.Errorf("%s: %s has no restart policy", p.Name, name)
		}
		if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0 {
			t.Errorf("%s: %s has no healthcheck", p.Name, name)
		}
		// Everything that reads the schema waits for the migrations.
		if pikaImage(s) {
			if dep, ok := s.DependsOn["migrate"]; !ok || dep.Condition != types.ServiceConditionCompletedSuccessfully {
				t.Errorf("%s: %s must depend on migrate completing successfully, has %+v", p.Name, name, s.DependsOn)
			}
		}
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeBind {
				if _, err := os.Stat(v.Source); err != nil {
					t.Errorf("%s: %s mounts %s, which is not in the repository: %v", p.Name, name, v.Source, err)
				}
			}
		}
	}
}

func TestProd(t *testing.T) {
	for _, files := range [][]string{{"prod.yml"}, {"prod.yml", "staging.yml"}} {
		t.Run(strings.Join(files, "+"), func(t *testing.T) {
			p := mustLoad(t, secrets, files...)
			checkCommon(t, p)
			for name, s := range p.Services {
				if len(s.Ports) > 0 {
					t.Errorf("%s publishes ports %+v: in prod everything comes through the tunnel", name, s.Ports)
				}
			}
			var nats, gateways int
			for _, s := range p.Services {
				switch {
				case slices.Equal([]string(s.Command), []string{"nats"}):
					nats++
				case slices.Equal([]string(s.Command), []string{"gateway"}):
					gateways++
				}
			}
			if nats != 3 || gateways < 2 {
				t.Errorf("%d NATS nodes and %d gateways, want 3 and at least 2", nats, gateways)
			}
			for _, want := range []string{"cloudflared", "caddy", "persister", "postgres", "backup"} {
				if _, ok := p.Services[want]; !ok {
					t.Errorf("no %s service", want)
				}
			}
			// Each NATS node keeps its JetStream files on its own volume.
			for _, n := range []string{"nats-1", "nats-2", "nats-3"} {
				s := p.Services[n]
				if len(s.Volumes) != 1 || s.Volumes[0].Type != types.VolumeTypeVolume || s.Volumes[0].Target != "/data" {
					t.Errorf("%s volumes %+v, want one named volume on /data", n, s.Volumes)
				}
			}
			if len(files) == 2 {
				if p.Name != "pika-staging" {
					t.Errorf("staging project name %q: it must not share prod's volumes", p.Name)
				}
				if env := p.Services["gateway-1"].Environment["PIKA_ENVIRONMENT"]; env == nil || *env != "staging" {
					t.Errorf("staging gateway environment %v", env)
				}
			}
		})
	}
}

// TestProdRefusesMissingSecrets: a missing secret stops compose with a line
// naming it, instead of starting a service with an empty password.
func TestProdRefusesMissingSecrets(t *testing.T) {
	for i, kv := range secrets {
		name, _, _ := strings.Cut(kv, "=")
		env := slices.Delete(slices.Clone(secrets), i, i+1)
		_, err := load(t, env, "prod.yml")
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("without %s: err %v, want one naming it", name, err)
		}
	}
}

func TestDev(t *testing.T) {
	p := mustLoad(t, nil, "dev.yml")
	checkCommon(t, p)
	gw := p.Services["gateway"]
	if len(gw.Ports) != 1 || gw.Ports[0].Target != 3000 || gw.Ports[0].HostIP != "0.0.0.0" {
		t.Errorf("dev gateway ports %+v, want 3000 on every interface (phones on the LAN)", gw.Ports)
	}
	local := mustLoad(t, []string{"PIKA_BIND=127.0.0.1"}, "dev.yml")
	for name, s := range local.Services {
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("PIKA_BIND=127.0.0.1: %s still binds %s:%s", name, port.HostIP, port.Published)
			}
		}
	}
}

// TestEveryFileIsChecked: a new compose file gets a test.
func TestEveryFileIsChecked(t *testing.T) {
	files, err := filepath.Glob("*.yml")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	if want := []string{"dev.yml", "prod.yml", "staging.yml"}; !slices.Equal(files, want) {
		t.Errorf("compose files %v; this test checks %v: add the new one", files, want)
	}
}
