package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

const installHint = "not installed: run `make test`, which installs it"

func lookTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s %s", name, installHint)
	}
	return path
}

func runPromtool(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(lookTool(t, "promtool"), args...)
	cmd.Dir = "prometheus"
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestPromtoolCheckConfig(t *testing.T) { runPromtool(t, "check", "config", "prometheus.yml") }
func TestPromtoolCheckRules(t *testing.T)  { runPromtool(t, "check", "rules", "alerts.yml") }
func TestPromtoolTestRules(t *testing.T)   { runPromtool(t, "test", "rules", "alerts_test.yml") }

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestAlerts(t *testing.T) {
	var rf ruleFile
	readYAML(t, "prometheus/alerts.yml", &rf)
	alerts := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				t.Errorf("recording rule %s: this test knows no recorded series", r.Record)
			}
			alerts[r.Alert] = true
			for _, name := range metricNames(r.Expr) {
				if !knownMetric(name) {
					t.Errorf("alert %s uses %q, which no node exports", r.Alert, name)
				}
			}
			if s := r.Labels["severity"]; s != "page" && s != "warning" {
				t.Errorf("alert %s: severity %q, want page or warning", r.Alert, s)
			}
			if r.Annotations["summary"] == "" {
				t.Errorf("alert %s has no summary", r.Alert)
			}
		}
	}
	for _, want := range []string{
		"LivedropNodeDown", "LivedropStreamWithoutPublisher", "LivedropSessionSetupFailures",
		"LivedropUpstreamDisconnected", "LivedropRTPDrops", "LivedropCheckoutAcceptLatencyHigh",
		"LivedropJournalFsyncSlow", "LivedropCheckoutSyncLagHigh", "LivedropCheckoutErrors",
		"LivedropAuthFailureSpike", "LivedropSessionFlood", "LivedropAudioTranscoderRestarting",
	} {
		if !alerts[want] {
			t.Errorf("no alert %s", want)
		}
	}

	// The promtool tests cover at least two rules.
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	readYAML(t, "prometheus/alerts_test.yml", &tests)
	tested := map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			tested[a.Alertname] = true
		}
	}
	if len(tested) < 2 {
		t.Errorf("alerts_test.yml tests %d rules, want at least 2", len(tested))
	}
}

type grafanaPanel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // a collapsed row's panels
}

func TestDashboard(t *testing.T) {
	data, err := os.ReadFile("grafana/dashboards/livedrop.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID           string         `json:"uid"`
		Title         string         `json:"title"`
		SchemaVersion int            `json:"schemaVersion"`
		Panels        []grafanaPanel `json:"panels"`
		Templating    struct {
			List []struct {
				Name       string `json:"name"`
				Type       string `json:"type"`
				Query      any    `json:"query"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&dash); err != nil {
		t.Fatalf("livedrop.json: %v", err)
	}
	if dash.UID == "" || dash.Title == "" || dash.SchemaVersion < 30 {
		t.Errorf("dashboard uid %q title %q schemaVersion %d", dash.UID, dash.Title, dash.SchemaVersion)
	}

	vars := map[string]string{}
	for _, v := range dash.Templating.List {
		vars[v.Name] = v.Type
		if v.Type == "query" {
			m := regexp.MustCompile(`label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)`).FindStringSubmatch(v.Definition)
			if m == nil || !knownMetric(m[1]) {
				t.Errorf("variable %s: query %q does not read a known metric", v.Name, v.Definition)
			}
		}
	}
	if vars["DS_PROMETHEUS"] != "datasource" {
		t.Error("no DS_PROMETHEUS data source variable")
	}

	var panels []grafanaPanel
	for _, p := range dash.Panels {
		panels = append(panels, p)
		panels = append(panels, p.Panels...)
	}
	used := map[string]bool{}
	ids := map[int]bool{}
	var rows []string
	for _, p := range panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 || p.GridPos.H <= 0 {
			t.Errorf("panel %q: gridPos %+v out of the 24-column grid", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			rows = append(rows, p.Title)
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${DS_PROMETHEUS}" {
			t.Errorf("panel %q: datasource %+v, want uid ${DS_PROMETHEUS}", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no targets", p.Title)
		}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" || tg.RefID == "" {
				t.Errorf("panel %q: target %q without expr or refId", p.Title, tg.RefID)
			}
			names := metricNames(tg.Expr)
			if len(names) == 0 {
				t.Errorf("panel %q: %q selects no metric", p.Title, tg.Expr)
			}
			for _, name := range names {
				if !knownMetric(name) {
					t.Errorf("panel %q uses %q, which no node exports", p.Title, name)
				}
				used[baseMetric(name)] = true
			}
		}
	}
	for _, want := range []string{"Media", "Checkout", "Security", "Ingest: WHIP and audio"} {
		if !slices.Contains(rows, want) {
			t.Errorf("no %s row (rows: %q)", want, rows)
		}
	}
	var unused []string
	for name := range metricTypes {
		if !used[name] {
			unused = append(unused, name)
		}
	}
	sort.Strings(unused)
	if len(unused) > 0 {
		t.Errorf("metrics on no panel: %q", unused)
	}
}

func TestGrafanaProvisioning(t *testing.T) {
	var ds struct {
		Datasources []struct {
			UID, Type, URL string
		} `yaml:"datasources"`
	}
	readYAML(t, "grafana/provisioning/datasources/prometheus.yml", &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || ds.Datasources[0].URL != "http://prometheus:9090" {
		t.Errorf("data sources %+v", ds.Datasources)
	}
	var dp struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, "grafana/provisioning/dashboards/livedrop.yml", &dp)
	if len(dp.Providers) != 1 || dp.Providers[0].Options.Path == "" {
		t.Fatalf("dashboard providers %+v", dp.Providers)
	}

	// docker-compose mounts the dashboards where the provider looks.
	var compose composeFile
	readYAML(t, "docker-compose.yml", &compose)
	mounted := false
	for _, v := range compose.Services["grafana"].Volumes {
		if strings.HasPrefix(v, "./grafana/dashboards:"+dp.Providers[0].Options.Path) {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("docker-compose does not mount ./grafana/dashboards at %s", dp.Providers[0].Options.Path)
	}
}

type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		Ports       []string          `yaml:"ports"`
		Volumes     []string          `yaml:"volumes"`
		Environment map[string]string `yaml:"environment"`
	} `yaml:"services"`
}

func TestComposeAndScrapeTargets(t *testing.T) {
	var compose composeFile
	readYAML(t, "docker-compose.yml", &compose)
	for _, svc := range []string{"redis", "origin", "edge", "prometheus", "grafana"} {
		if _, ok := compose.Services[svc]; !ok {
			t.Errorf("docker-compose has no service %s", svc)
		}
	}
	if got := strings.Join(compose.Services["origin"].Command, " "); got != "origin --config /etc/livedrop/origin.yaml" {
		t.Errorf("origin command %q", got)
	}
	if !slices.Contains(compose.Services["edge"].Ports, "8189:8189/udp") {
		t.Errorf("edge does not publish UDP 8189: %q", compose.Services["edge"].Ports)
	}
	// Mounted files exist.
	for name, s := range compose.Services {
		for _, v := range s.Volumes {
			if src, _, ok := strings.Cut(v, ":"); ok && strings.HasPrefix(src, "./") {
				if _, err := os.Stat(src); err != nil {
					t.Errorf("service %s mounts %s: %v", name, src, err)
				}
			}
		}
	}

	// Prometheus scrapes the compose services on their HTTP ports.
	var prom struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, "prometheus/prometheus.yml", &prom)
	targets := map[string]string{}
	for _, sc := range prom.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, tg := range st.Targets {
				targets[sc.JobName] = tg
			}
		}
	}
	want := map[string]string{"origin": "origin:8081", "edge": "edge:8080"}
	for job, tg := range want {
		if targets[job] != tg {
			t.Errorf("job %s scrapes %q, want %q", job, targets[job], tg)
		}
		host, port, _ := net.SplitHostPort(tg)
		if !slices.Contains(compose.Services[host].Ports, port+":"+port) {
			t.Errorf("compose service %s does not publish %s", host, port)
		}
	}
}

func TestK8sManifests(t *testing.T) {
	type object struct {
		Kind     string `yaml:"kind"`
		Metadata struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Data map[string]string `yaml:"data"`
		Spec struct {
			Ports []struct {
				Name     string `yaml:"name"`
				Port     int    `yaml:"port"`
				Protocol string `yaml:"protocol"`
			} `yaml:"ports"`
			VolumeClaimTemplates []struct {
				Metadata struct {
					Name string `yaml:"name"`
				} `yaml:"metadata"`
			} `yaml:"volumeClaimTemplates"`
		} `yaml:"spec"`
	}
	objects := map[string]object{}
	files, err := filepath.Glob("k8s/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var o object
			if err := dec.Decode(&o); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			objects[o.Kind+"/"+o.Metadata.Name] = o
		}
	}
	for _, want := range []string{
		"Deployment/origin", "Service/origin", "StatefulSet/edge", "Service/edge",
		"StatefulSet/redis", "Service/redis", "ConfigMap/livedrop-config",
	} {
		if _, ok := objects[want]; !ok {
			t.Errorf("k8s: no %s", want)
		}
	}
	// Edges keep their order journal on a volume of their own: an order
	// answered 201 must survive the pod's deletion.
	if vct := objects["StatefulSet/edge"].Spec.VolumeClaimTemplates; len(vct) != 1 || vct[0].Metadata.Name != "data" {
		t.Error("k8s: StatefulSet/edge has no volume claim for its journal")
	}
	udp := false
	for _, p := range objects["Service/edge"].Spec.Ports {
		udp = udp || (p.Port == 8189 && p.Protocol == "UDP")
	}
	if !udp {
		t.Error("k8s: Service/edge has no UDP port 8189")
	}
	// The ConfigMap carries the same files as deploy/config.
	for _, name := range []string{"origin.yaml", "edge.yaml"} {
		want, err := os.ReadFile(filepath.Join("config", name))
		if err != nil {
			t.Fatal(err)
		}
		if got := objects["ConfigMap/livedrop-config"].Data[name]; got != string(want) {
			t.Errorf("k8s ConfigMap %s differs from deploy/config/%s", name, name)
		}
	}
}

// TestPrometheusScrapes runs the real prometheus binary against a tiny
// /metrics endpoint, with livedrop's alert rules loaded, and reads the
// scraped series back through its HTTP API.
func TestPrometheusScrapes(t *testing.T) {
	bin := lookTool(t, "prometheus")
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		fmt.Fprint(w, `# HELP livedrop_viewers Viewers watching a stream.
# TYPE livedrop_viewers gauge
livedrop_viewers{region="eu",stream="shop1"} 3
# HELP livedrop_upstream_up Whether the edge's upstream of a stream is connected.
# TYPE livedrop_upstream_up gauge
livedrop_upstream_up{stream="shop1"} 1
`)
	}))
	t.Cleanup(target.Close)

	rules, err := filepath.Abs("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	config := filepath.Join(dir, "prometheus.yml")
	err = os.WriteFile(config, fmt.Appendf(nil, `global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: edge
    static_configs:
      - targets: [%q]
`, rules, strings.TrimPrefix(target.URL, "http://")), 0o644)
	if err != nil {
		t.Fatal(err)
	}

	api := startPrometheus(t, bin, config, filepath.Join(dir, "data"))

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	waitQuery(ctx, t, api, `up{job="edge"}`, func(r []sample) bool { return len(r) == 1 && r[0].Value == "1" })
	waitQuery(ctx, t, api, `livedrop_viewers`, func(r []sample) bool {
		return len(r) == 1 && r[0].Value == "3" && r[0].Metric["stream"] == "shop1" && r[0].Metric["region"] == "eu"
	})

	// The alert rules loaded and evaluate without errors.
	var rs struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	for {
		getJSON(ctx, t, api+"/api/v1/rules", &rs)
		n, ok := 0, true
		for _, g := range rs.Data.Groups {
			for _, r := range g.Rules {
				n++
				if r.Health != "ok" {
					ok = false
					if r.Health == "err" {
						t.Fatalf("rule %s: %s", r.Name, r.LastError)
					}
				}
			}
		}
		if n > 0 && ok {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("rules not all evaluated: %+v", rs.Data.Groups)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

type sample struct {
	Metric map[string]string
	Value  string
}

// startPrometheus runs prometheus on a free loopback port and returns its
// base URL. It is stopped in t's cleanup.
func startPrometheus(t *testing.T, bin, config, data string) string {
	t.Helper()
	for attempt := 0; ; attempt++ {
		base, portTaken := tryPrometheus(t, bin, config, data)
		if !portTaken {
			return base
		}
		if attempt == 2 {
			t.Fatal("prometheus: no free port after 3 attempts")
		}
	}
}

// tryPrometheus starts prometheus once and waits until it is ready. It
// reports portTaken when the port chosen was taken before prometheus bound it.
func tryPrometheus(t *testing.T, bin, config, data string) (base string, portTaken bool) {
	t.Helper()
	addr := freePort(t)
	out := &lockedBuffer{}
	cmd := exec.Command(bin,
		"--config.file="+config,
		"--storage.tsdb.path="+data,
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("prometheus output:\n%s", out.String())
		}
	})
	base = "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			if strings.Contains(out.String(), "address already in use") {
				return "", true
			}
			t.Fatalf("prometheus exited at start:\n%s", out.String())
		default:
		}
		if res, err := http.Get(base + "/-/ready"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return base, false
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after 30 s:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func getJSON(ctx context.Context, t *testing.T, u string, v any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", u, res.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v: %s", u, err, body)
	}
}

// waitQuery polls an instant query until ok accepts its vector result.
func waitQuery(ctx context.Context, t *testing.T, api, query string, ok func([]sample) bool) {
	t.Helper()
	var last []sample
	for {
		var res struct {
			Status string `json:"status"`
			Data   struct {
				ResultType string `json:"resultType"`
				Result     []struct {
					Metric map[string]string `json:"metric"`
					Value  [2]any            `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		getJSON(ctx, t, api+"/api/v1/query?query="+url.QueryEscape(query), &res)
		last = last[:0]
		for _, r := range res.Data.Result {
			v, _ := r.Value[1].(string)
			last = append(last, sample{Metric: r.Metric, Value: v})
		}
		if res.Status == "success" && ok(last) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("query %s: last result %+v", query, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for a child process's two pipes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
