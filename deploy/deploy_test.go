package deploy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func names(steps []Step) string {
	var s []string
	for _, st := range steps {
		s = append(s, st.Service.Name)
	}
	return strings.Join(s, " ")
}

func TestPlanOrder(t *testing.T) {
	steps, err := Plan([]Service{
		{"nats-2", RoleNATS}, {"gateway-2", RoleGateway}, {"nats-1", RoleNATS}, {"persister", RolePersister},
		{"migrate", RoleMigrate}, {"gateway-1", RoleGateway}, {"nats-3", RoleNATS},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(steps), "migrate persister gateway-1 gateway-2 nats-1 nats-2 nats-3"; got != want {
		t.Fatalf("order %q, want %q", got, want)
	}
	if !steps[0].Once || len(steps[0].WaitFor) != 0 {
		t.Errorf("migrate step %+v: runs once, waits for nothing else", steps[0])
	}
	for _, st := range steps[1:4] {
		if st.Once || len(st.WaitFor) != 1 || st.WaitFor[0] != st.Service {
			t.Errorf("step %+v: replaced, then waits for itself", st)
		}
	}
	for _, st := range steps[4:] {
		if len(st.WaitFor) != 3 {
			t.Errorf("NATS step %s waits for %v: must wait for every node (streams current)", st.Service.Name, st.WaitFor)
		}
	}
}

func TestPlanRefusesAnOutage(t *testing.T) {
	_, err := Plan([]Service{{"migrate", RoleMigrate}, {"gateway", RoleGateway}, {"nats-1", RoleNATS}})
	if err == nil {
		t.Fatal("planned a rollout with one gateway, one node and no persister")
	}
	for _, want := range []string{"no persister", "1 gateway(s)", "1 NATS node(s)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// TestComposeServices: the deploy reads roles from the real prod file.
func TestComposeServices(t *testing.T) {
	env := filepath.Join(t.TempDir(), "prod.env")
	if err := os.WriteFile(env, []byte(strings.Join([]string{
		"PIKA_VERSION=v1", "POSTGRES_PASSWORD=x", "PIKA_NATS_GATEWAY_PASSWORD=x", "PIKA_NATS_PERSISTER_PASSWORD=x",
		"PIKA_NATS_ADMIN_PASSWORD=x", "PIKA_PUBLIC_URL=https://pika.example.com", "TUNNEL_TOKEN=x",
	}, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Compose{Files: []string{"../compose/prod.yml"}, Project: "pika", EnvFile: env}
	services, err := c.Services(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	steps, err := Plan(services)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(steps), "migrate persister gateway-1 gateway-2 nats-1 nats-2 nats-3"; got != want {
		t.Fatalf("prod.yml rolls out as %q, want %q", got, want)
	}
}

func TestParsePS(t *testing.T) {
	for _, in := range []string{
		`[{"Service":"gateway-1","State":"running","Health":"healthy"}]`,
		"{\"Service\":\"gateway-1\",\"State\":\"running\",\"Health\":\"healthy\"}\n",
	} {
		e, err := parsePS([]byte(in))
		if err != nil || len(e) != 1 || e[0].Health != "healthy" || e[0].Service != "gateway-1" {
			t.Errorf("parsePS(%q) = %+v, %v", in, e, err)
		}
	}
}
