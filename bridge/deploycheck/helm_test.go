package deploycheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/releaseutil"
	"helm.sh/helm/v3/pkg/strvals"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

var chartDir = filepath.Join("..", "..", "charts", "vocals-bridge")

// kubeVersion is the cluster the chart is rendered for.
var kubeVersion = &chartutil.KubeVersion{Version: "v" + KubeVersion, Major: "1", Minor: "34"}

// render runs `helm template` through the Helm SDK with a values file
// (empty for the defaults) and returns the manifests, hooks included, by
// "Kind/name".
func render(t *testing.T, valuesFile string) (map[string][]byte, string) {
	t.Helper()
	vals := map[string]any{}
	if valuesFile != "" {
		var err error
		if vals, err = chartutil.ReadValuesFile(filepath.Join(chartDir, valuesFile)); err != nil {
			t.Fatal(err)
		}
	}
	return renderValues(t, valuesFile, vals)
}

// renderSet is render with --set arguments, parsed as helm parses them.
func renderSet(t *testing.T, set ...string) map[string][]byte {
	t.Helper()
	vals := map[string]any{}
	for _, s := range set {
		if err := strvals.ParseInto(s, vals); err != nil {
			t.Fatalf("--set %s: %v", s, err)
		}
	}
	docs, _ := renderValues(t, strings.Join(set, " "), vals)
	return docs
}

// userImage is the one value every install must give (the project
// publishes no image); the checks add it where a values set has none.
const userImage = "registry.example.com/music/vocals-bridge"

// withImage returns vals with image.repository set to userImage unless it
// names one.
func withImage(vals map[string]any) map[string]any {
	img, _ := vals["image"].(map[string]any)
	if img == nil {
		img = map[string]any{}
		vals["image"] = img
	}
	if img["repository"] == nil {
		img["repository"] = userImage
	}
	return vals
}

func renderValues(t *testing.T, name string, vals map[string]any) (map[string][]byte, string) {
	t.Helper()
	rel, err := install(withImage(vals))
	if err != nil {
		t.Fatalf("helm template %s: %v", name, err)
	}
	return split(t, rel)
}

// install is helm template through the SDK.
func install(vals map[string]any) (*release.Release, error) {
	chrt, err := loader.Load(chartDir)
	if err != nil {
		return nil, err
	}
	inst := action.NewInstall(&action.Configuration{})
	inst.KubeVersion = kubeVersion // the chart requires 1.25+; the SDK assumes 1.20
	inst.ClientOnly, inst.DryRun = true, true
	inst.ReleaseName, inst.Namespace = "hooks", "music"
	return inst.Run(chrt, vals)
}

// split returns a rendered release's manifests, hooks included, by
// "Kind/name", and its notes.
func split(t *testing.T, rel *release.Release) (map[string][]byte, string) {
	t.Helper()
	out := map[string][]byte{}
	manifests := rel.Manifest // and the hooks (the helm-test Pod), as helm template prints them
	for _, h := range rel.Hooks {
		manifests += "\n---\n" + h.Manifest
	}
	for _, doc := range releaseutil.SplitManifests(manifests) {
		var meta struct {
			Kind     string
			Metadata struct{ Name string }
		}
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("manifest is not YAML: %v\n%s", err, doc)
		}
		if meta.Kind == "" {
			continue
		}
		out[meta.Kind+"/"+meta.Metadata.Name] = []byte(doc)
	}
	return out, rel.Info.Notes
}

// decodeStrict decodes a manifest into its API type, refusing unknown fields.
func decodeStrict(t *testing.T, name string, doc []byte) any {
	t.Helper()
	types := map[string]func() any{
		"ConfigMap":               func() any { return &corev1.ConfigMap{} },
		"Pod":                     func() any { return &corev1.Pod{} },
		"Secret":                  func() any { return &corev1.Secret{} },
		"Service":                 func() any { return &corev1.Service{} },
		"ServiceAccount":          func() any { return &corev1.ServiceAccount{} },
		"StatefulSet":             func() any { return &appsv1.StatefulSet{} },
		"Deployment":              func() any { return &appsv1.Deployment{} },
		"Ingress":                 func() any { return &networkingv1.Ingress{} },
		"NetworkPolicy":           func() any { return &networkingv1.NetworkPolicy{} },
		"HorizontalPodAutoscaler": func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
		"PodDisruptionBudget":     func() any { return &policyv1.PodDisruptionBudget{} },
		"ServiceMonitor":          func() any { return &monitoringv1.ServiceMonitor{} },
		"PrometheusRule":          func() any { return &monitoringv1.PrometheusRule{} },
	}
	kind := strings.SplitN(name, "/", 2)[0]
	newObj, ok := types[kind]
	if !ok {
		t.Fatalf("%s: no API type to check this kind against", name)
	}
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	obj := newObj()
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(obj); err != nil {
		t.Fatalf("%s does not decode strictly into %T: %v", name, obj, err)
	}
	return obj
}

func kinds(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestHelmLintStrict(t *testing.T) {
	for _, values := range []string{"", "ci/all-values.yaml", "ci/deployment-values.yaml"} {
		t.Run("values="+values, func(t *testing.T) {
			vals := map[string]any{}
			if values != "" {
				var err error
				if vals, err = chartutil.ReadValuesFile(filepath.Join(chartDir, values)); err != nil {
					t.Fatal(err)
				}
			}
			lint := action.NewLint()
			lint.Strict = true
			lint.KubeVersion = kubeVersion
			res := lint.Run([]string{chartDir}, withImage(vals))
			for _, m := range res.Messages {
				t.Logf("lint: %s", m)
			}
			if len(res.Errors) > 0 {
				t.Fatalf("helm lint --strict: %v", res.Errors)
			}
		})
	}
}

// Without image.repository the chart refuses to render, saying what to
// set: the project publishes no image, and a bare name would be pulled
// from Docker Hub.
func TestImageRepositoryIsRequired(t *testing.T) {
	_, err := install(map[string]any{})
	if err == nil || !strings.Contains(err.Error(), "image.repository: set it to the registry/name you pushed") {
		t.Fatalf("rendered without an image: %v", err)
	}
}

// Archiving without an allow-list refuses to render, saying what to set:
// the bridge would refuse to start.
func TestArchiveNeedsAllowedHosts(t *testing.T) {
	_, err := install(withImage(map[string]any{"config": map[string]any{"archive_enabled": true}}))
	if err == nil || !strings.Contains(err.Error(), "config.archive_enabled needs config.archive_allowed_hosts") {
		t.Fatalf("rendered archiving without an allow-list: %v", err)
	}
}

func TestHelmTemplateDefaults(t *testing.T) {
	docs, notes := render(t, "")
	want := []string{
		"ConfigMap/hooks-vocals-bridge", "Pod/hooks-vocals-bridge-test-readyz", "PodDisruptionBudget/hooks-vocals-bridge", "Secret/hooks-vocals-bridge",
		"Service/hooks-vocals-bridge", "Service/hooks-vocals-bridge-admin", "Service/hooks-vocals-bridge-headless",
		"ServiceAccount/hooks-vocals-bridge", "StatefulSet/hooks-vocals-bridge",
	}
	if got := kinds(docs); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("rendered %v\nwant %v", got, want)
	}
	for name, doc := range docs {
		decodeStrict(t, name, doc)
	}
	// No secret values: an empty map, not null (which some tools refuse).
	if !bytes.Contains(docs["Secret/hooks-vocals-bridge"], []byte("\ndata: {}")) {
		t.Errorf("the Secret without values:\n%s", docs["Secret/hooks-vocals-bridge"])
	}
	pdb := decodeStrict(t, "PodDisruptionBudget/x", docs["PodDisruptionBudget/hooks-vocals-bridge"]).(*policyv1.PodDisruptionBudget)
	if pdb.Spec.MinAvailable != nil || pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Errorf("PDB %+v: want maxUnavailable 1, so one replica does not block node drains", pdb.Spec)
	}
	sts := decodeStrict(t, "StatefulSet/x", docs["StatefulSet/hooks-vocals-bridge"]).(*appsv1.StatefulSet)
	if a := sts.Spec.Template.Spec.Affinity; a == nil || a.PodAntiAffinity == nil {
		t.Error("no soft pod anti-affinity by default")
	}
	checkPod(t, sts.Spec.Template.Spec)
	if len(sts.Spec.VolumeClaimTemplates) != 1 || sts.Spec.VolumeClaimTemplates[0].Name != "data" {
		t.Error("no per-pod volume for the spool")
	}
	cm := decodeStrict(t, "ConfigMap/x", docs["ConfigMap/hooks-vocals-bridge"]).(*corev1.ConfigMap)
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(cm.Data["config.yaml"]), &cfg); err != nil || cfg["nats_url"] == nil {
		t.Errorf("config.yaml in the ConfigMap: %v %v", err, cfg)
	}
	if !strings.Contains(notes, "callBackUrl") || !strings.Contains(notes, "WARNING") {
		t.Errorf("NOTES.txt does not explain the callBackUrl or warn about verification:\n%s", notes)
	}
}

// checkPod holds the pod to the hardening the chart promises.
func checkPod(t *testing.T, spec corev1.PodSpec) {
	t.Helper()
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers", len(spec.Containers))
	}
	c := spec.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("container security context %+v", sc)
	}
	if psc := spec.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("pod does not run as non-root: %+v", psc)
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" || c.LivenessProbe.HTTPGet.Port.String() != "admin" {
		t.Errorf("liveness probe %+v", c.LivenessProbe)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.ReadinessProbe.HTTPGet.Port.String() != "admin" {
		t.Errorf("readiness probe %+v", c.ReadinessProbe)
	}
	env := map[string]*corev1.EnvVarSource{}
	for _, e := range c.Env {
		env[e.Name] = e.ValueFrom
	}
	if src := env["VOCALS_BRIDGE_WEBHOOK_HMAC_KEY"]; src == nil || src.SecretKeyRef == nil {
		t.Error("the HMAC key does not come from a Secret")
	}
}

func TestHelmTemplateEverythingOn(t *testing.T) {
	docs, notes := render(t, "ci/all-values.yaml")
	for _, k := range []string{
		"Ingress/hooks-vocals-bridge", "HorizontalPodAutoscaler/hooks-vocals-bridge", "NetworkPolicy/hooks-vocals-bridge",
		"ServiceMonitor/hooks-vocals-bridge", "PrometheusRule/hooks-vocals-bridge", "ConfigMap/hooks-vocals-bridge-dashboard",
	} {
		if docs[k] == nil {
			t.Errorf("%s not rendered; got %v", k, kinds(docs))
		}
	}
	for name, doc := range docs {
		decodeStrict(t, name, doc)
	}
	sts := decodeStrict(t, "StatefulSet/x", docs["StatefulSet/hooks-vocals-bridge"]).(*appsv1.StatefulSet)
	checkPod(t, sts.Spec.Template.Spec)
	if sts.Spec.Replicas != nil {
		t.Error("replicas set although the HPA owns them")
	}
	hpa := decodeStrict(t, "HorizontalPodAutoscaler/x", docs["HorizontalPodAutoscaler/hooks-vocals-bridge"]).(*autoscalingv2.HorizontalPodAutoscaler)
	if hpa.Spec.ScaleTargetRef.Kind != "StatefulSet" {
		t.Errorf("HPA targets %s", hpa.Spec.ScaleTargetRef.Kind)
	}
	rule := decodeStrict(t, "PrometheusRule/x", docs["PrometheusRule/hooks-vocals-bridge"]).(*monitoringv1.PrometheusRule)
	found := false
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert == "VocalsBridgeNoCallbacks" && strings.Contains(r.Expr.String(), "[1h]") {
				found = true
			}
		}
	}
	if !found {
		t.Error("prometheusRule.noCallbacksFor did not reach the alert")
	}
	// Tracking: the submit proxy's port and Service, the API key from the
	// Secret, and the network policy's way in to the proxy and out to the
	// provider.
	if docs["Service/hooks-vocals-bridge-submit"] == nil {
		t.Errorf("no submit Service; got %v", kinds(docs))
	}
	c := sts.Spec.Template.Spec.Containers[0]
	hasPort, hasKey, hasToken, hasLimit := false, false, false, false
	for _, p := range c.Ports {
		hasPort = hasPort || p.Name == "submit" && p.ContainerPort == 8082
	}
	for _, e := range c.Env {
		hasKey = hasKey || e.Name == "VOCALS_BRIDGE_PROVIDER_API_KEY" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef.Key == "provider-api-key"
		hasToken = hasToken || e.Name == "VOCALS_BRIDGE_SUBMIT_TOKEN" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef.Key == "submit-token"
		hasLimit = hasLimit || e.Name == "GOMEMLIMIT" && e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef.Resource == "limits.memory"
	}
	if !hasLimit {
		t.Error("GOMEMLIMIT does not follow the memory limit")
	}
	if !hasPort || !hasKey || !hasToken {
		t.Errorf("submit port %v, provider key %v and submit token %v from the Secret", hasPort, hasKey, hasToken)
	}
	if sec := decodeStrict(t, "Secret/x", docs["Secret/hooks-vocals-bridge"]).(*corev1.Secret); len(sec.Data["submit-token"]) == 0 {
		t.Error("the Secret has no submit-token")
	}
	np := decodeStrict(t, "NetworkPolicy/x", docs["NetworkPolicy/hooks-vocals-bridge"]).(*networkingv1.NetworkPolicy)
	egress443, ingressSubmit := false, false
	for _, e := range np.Spec.Egress {
		for _, p := range e.Ports {
			egress443 = egress443 || p.Port != nil && p.Port.IntValue() == 443
		}
	}
	for _, in := range np.Spec.Ingress {
		for _, p := range in.Ports {
			ingressSubmit = ingressSubmit || p.Port != nil && p.Port.String() == "submit"
		}
	}
	if !egress443 || !ingressSubmit {
		t.Errorf("network policy: egress to the provider %v, ingress to the proxy %v", egress443, ingressSubmit)
	}
	dash := decodeStrict(t, "ConfigMap/x", docs["ConfigMap/hooks-vocals-bridge-dashboard"]).(*corev1.ConfigMap)
	if dash.Labels["grafana_dashboard"] != "1" || !json.Valid([]byte(dash.Data["vocals-bridge.json"])) {
		t.Error("dashboard ConfigMap is not for the Grafana sidecar or holds invalid JSON")
	}
	if !strings.Contains(notes, "https://hooks.example.com/callbacks/<family>") || strings.Contains(notes, "WARNING") {
		t.Errorf("NOTES.txt with an ingress and a key:\n%s", notes)
	}
}

func TestHelmTemplateWithoutPersistence(t *testing.T) {
	docs, _ := render(t, "ci/deployment-values.yaml")
	if docs["StatefulSet/hooks-vocals-bridge"] != nil || docs["Deployment/hooks-vocals-bridge"] == nil {
		t.Fatalf("want a Deployment without persistence, got %v", kinds(docs))
	}
	dep := decodeStrict(t, "Deployment/x", docs["Deployment/hooks-vocals-bridge"]).(*appsv1.Deployment)
	checkPod(t, dep.Spec.Template.Spec)
	// The spool on the node's disk is bounded and requested.
	for _, v := range dep.Spec.Template.Spec.Volumes {
		if v.Name == "data" && (v.EmptyDir == nil || v.EmptyDir.SizeLimit == nil || v.EmptyDir.SizeLimit.IsZero()) {
			t.Errorf("data emptyDir without a size limit: %+v", v)
		}
	}
	if _, ok := dep.Spec.Template.Spec.Containers[0].Resources.Requests["ephemeral-storage"]; !ok {
		t.Error("no ephemeral-storage request without persistence")
	}
	hpa := decodeStrict(t, "HorizontalPodAutoscaler/x", docs["HorizontalPodAutoscaler/hooks-vocals-bridge"]).(*autoscalingv2.HorizontalPodAutoscaler)
	if hpa.Spec.ScaleTargetRef.Kind != "Deployment" {
		t.Errorf("HPA targets %s", hpa.Spec.ScaleTargetRef.Kind)
	}
}

func TestExistingSecretIsNotCreated(t *testing.T) {
	rel, err := install(withImage(map[string]any{"secret": map[string]any{"existingSecret": "mine"}}))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(rel.Manifest, "kind: Secret") || !strings.Contains(rel.Manifest, "name: mine") {
		t.Error("existingSecret: the chart made its own Secret or does not reference the given one")
	}
}

// The chart's README lists every top-level value.
func TestChartReadmeListsValues(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(chartDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	chrt, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	for key := range chrt.Values {
		if !strings.Contains(string(readme), fmt.Sprintf("`%s", key)) {
			t.Errorf("charts/vocals-bridge/README.md does not document %s", key)
		}
	}
}

// The README's Helm example (an Ingress naming only its host) routes every
// family's callback route and the schemas to the public port.
func TestIngressRoutesEveryFamilyAndTheSchemas(t *testing.T) {
	docs := renderSet(t, "ingress.enabled=true", "ingress.hosts[0].host=hooks.example.com")
	var ing networkingv1.Ingress
	if err := yaml.UnmarshalStrict(docs["Ingress/hooks-vocals-bridge"], &ing); err != nil {
		t.Fatalf("Ingress: %v; rendered %v", err, kinds(docs))
	}
	families, err := os.ReadDir(filepath.Join("..", "internal", "family", "examples"))
	if err != nil || len(families) < 17 {
		t.Fatalf("the families' examples: %v (%d)", err, len(families))
	}
	want := []string{"/schemas/v1/event.schema.json"}
	for _, f := range families {
		if f.IsDir() {
			want = append(want, "/callbacks/"+f.Name())
		}
	}
	if len(ing.Spec.Rules) != 1 || ing.Spec.Rules[0].Host != "hooks.example.com" || ing.Spec.Rules[0].HTTP == nil {
		t.Fatalf("rules %+v", ing.Spec.Rules)
	}
	for _, path := range want {
		routed := false
		for _, p := range ing.Spec.Rules[0].HTTP.Paths {
			prefix := p.PathType != nil && *p.PathType == networkingv1.PathTypePrefix &&
				(path == p.Path || strings.HasPrefix(path, strings.TrimSuffix(p.Path, "/")+"/"))
			exact := path == p.Path
			routed = routed || (prefix || exact) && p.Backend.Service != nil && p.Backend.Service.Port.Name == "http"
		}
		if !routed {
			t.Errorf("%s is not routed to the public port: %+v", path, ing.Spec.Rules[0].HTTP.Paths)
		}
	}
}

// values.schema.json refuses a mistyped value and an unknown config key
// before anything is rendered.
func TestValuesSchemaRefusesMistakes(t *testing.T) {
	tests := map[string]map[string]any{
		"replicaCount=two":     {"replicaCount": "two"},
		"unknown config key":   {"config": map[string]any{"streem": "VOCALS"}},
		"config value type":    {"config": map[string]any{"stream_replicas": "three"}},
		"unknown top-level":    {"replicas": 3},
		"anti-affinity choice": {"podAntiAffinity": "always"},
	}
	for name, vals := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := install(withImage(vals)); err == nil || !strings.Contains(err.Error(), "schema") {
				t.Errorf("accepted, or refused for another reason: %v", err)
			}
		})
	}
}

// kube-score on everything each set of values renders (the helm-test Pod
// included): no critical finding, except the three the chart declines on
// purpose, ignored by name: a CPU limit (container-cpu-limit), which
// throttles a service that must answer within 15 s; imagePullPolicy
// Always (container-image-pull-policy), wrong for the pinned tags it is
// given; and a NetworkPolicy (pod-networkpolicy), offered with
// networkPolicy.enabled, not imposed.
func TestKubeScore(t *testing.T) {
	bin := linter(t, "KUBE_SCORE", "kube-score")
	for _, values := range []string{"", "ci/all-values.yaml", "ci/deployment-values.yaml"} {
		t.Run("values "+values, func(t *testing.T) {
			docs, _ := render(t, values)
			var all []byte
			for _, d := range docs {
				all = append(append(append(all, "---\n"...), d...), '\n')
			}
			cmd := exec.Command(bin, "score", "--ignore-container-cpu-limit",
				"--ignore-test", "container-image-pull-policy", "--ignore-test", "pod-networkpolicy", "-")
			cmd.Stdin = bytes.NewReader(all)
			out, err := cmd.CombinedOutput()
			if err != nil || bytes.Contains(out, []byte("[CRITICAL]")) {
				t.Errorf("kube-score: %v\n%s", err, out)
			}
		})
	}
}
