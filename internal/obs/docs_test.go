package obs

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// series is every Pika! series: the contract between the code, the
// dashboard and docs/operations.md.
var series = []string{
	"pika_gateway_sockets", "pika_gateway_sessions", "pika_gateway_fanout_seconds",
	"pika_gateway_slow_consumer_drops_total", "pika_gateway_actions_total", "pika_gateway_actions_rejected_total",
	"pika_persister_lag_messages", "pika_persister_batch_messages", "pika_persister_write_seconds",
	"pika_persister_errors_total", "pika_persister_rows_written_total",
	"pika_nats_consumer_pending", "pika_nats_consumer_ack_pending", "pika_nats_leafnodes", "pika_nats_connections",
}

// TestDashboardAndDocsCoverEverySeries keeps compose/dashboard.json and
// docs/operations.md in step with the series the code exports.
func TestDashboardAndDocsCoverEverySeries(t *testing.T) {
	raw, err := os.ReadFile("../../compose/dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Templating struct {
			List []struct{ Type, Name string } `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Targets []struct{ Expr string } `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	if len(dash.Templating.List) == 0 || dash.Templating.List[0].Type != "datasource" {
		t.Error("the dashboard has no data source variable")
	}
	var exprs strings.Builder
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs.WriteString(tg.Expr + "\n")
		}
	}
	docs, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range series {
		if !strings.Contains(exprs.String(), s) {
			t.Errorf("no dashboard panel shows %s", s)
		}
		if !strings.Contains(string(docs), "`"+s) {
			t.Errorf("docs/operations.md does not describe %s", s)
		}
	}
}
