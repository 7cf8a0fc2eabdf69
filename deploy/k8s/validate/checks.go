package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// manifests is one build, decoded, with the separately applied objects beside it.
type manifests struct {
	problems    []string
	secrets     map[string][]string // name -> keys
	configMaps  map[string][]string
	deployments []*appsv1.Deployment
	services    []*corev1.Service
	pdbs        []*policyv1.PodDisruptionBudget
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	scaled      []*ScaledObject
	triggerAuth map[string]*TriggerAuthentication
	rabbits     []*RabbitmqCluster
	mongos      []*MongoDBCommunity
}

func (m *manifests) addf(format string, args ...any) {
	m.problems = append(m.problems, fmt.Sprintf(format, args...))
}

// validate decodes a build and the external objects and returns every problem found.
func validate(built, external []rawObject) []string {
	m := &manifests{
		secrets:     map[string][]string{},
		configMaps:  map[string][]string{},
		triggerAuth: map[string]*TriggerAuthentication{},
	}
	seen := map[string]string{}
	for _, raw := range append(slices.Clone(built), external...) {
		obj, problems := decode(raw)
		m.problems = append(m.problems, problems...)
		if obj.Value == nil {
			continue
		}
		if where, dup := seen[obj.String()]; dup {
			m.addf("%s: defined twice (%s and %s)", obj, where, obj.Source)
		}
		seen[obj.String()] = obj.Source
		m.checkMetadata(obj)
		m.collect(obj)
	}
	for _, d := range m.deployments {
		m.checkDeployment(d)
	}
	m.checkDisruptionBudgets()
	m.checkServices()
	m.checkAutoscaling()
	m.checkOperators()
	return m.problems
}

// checkMetadata applies the API server's rules for names and labels, which a decode cannot see.
func (m *manifests) checkMetadata(obj object) {
	meta, ok := obj.Value.(metav1.Object)
	if !ok {
		return
	}
	nameRule := validation.IsDNS1123Subdomain
	if obj.Kind == "Service" || obj.Kind == "Namespace" {
		nameRule = validation.IsDNS1035Label
	}
	for _, msg := range nameRule(meta.GetName()) {
		m.addf("%s: metadata.name: %s", obj, msg)
	}
	for _, e := range metavalidation.ValidateLabels(meta.GetLabels(), field.NewPath("metadata", "labels")) {
		m.addf("%s: %s", obj, e.Error())
	}
	if d, ok := obj.Value.(*appsv1.Deployment); ok {
		path := field.NewPath("spec", "template", "metadata", "labels")
		for _, e := range metavalidation.ValidateLabels(d.Spec.Template.Labels, path) {
			m.addf("%s: %s", obj, e.Error())
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			for _, msg := range validation.IsDNS1123Label(c.Name) {
				m.addf("%s: container name %q: %s", obj, c.Name, msg)
			}
			for _, p := range c.Ports {
				for _, msg := range validation.IsValidPortName(p.Name) {
					m.addf("%s: container %q: port name %q: %s", obj, c.Name, p.Name, msg)
				}
			}
		}
	}
}

func (m *manifests) collect(obj object) {
	switch v := obj.Value.(type) {
	case *corev1.Secret:
		keys := []string{}
		for k := range v.Data {
			keys = append(keys, k)
		}
		for k := range v.StringData {
			keys = append(keys, k)
		}
		m.secrets[v.Name] = keys
	case *corev1.ConfigMap:
		keys := []string{}
		for k := range v.Data {
			keys = append(keys, k)
		}
		m.configMaps[v.Name] = keys
	case *appsv1.Deployment:
		m.deployments = append(m.deployments, v)
	case *corev1.Service:
		m.services = append(m.services, v)
	case *policyv1.PodDisruptionBudget:
		m.pdbs = append(m.pdbs, v)
	case *autoscalingv2.HorizontalPodAutoscaler:
		m.hpas = append(m.hpas, v)
	case *ScaledObject:
		m.scaled = append(m.scaled, v)
	case *TriggerAuthentication:
		m.triggerAuth[v.Name] = v
	case *RabbitmqCluster:
		m.rabbits = append(m.rabbits, v)
	case *MongoDBCommunity:
		m.mongos = append(m.mongos, v)
	}
}

func (m *manifests) checkDeployment(d *appsv1.Deployment) {
	id := "Deployment/" + d.Name
	pod := d.Spec.Template.Spec
	if d.Spec.Selector == nil || len(d.Spec.Selector.MatchLabels)+len(d.Spec.Selector.MatchExpressions) == 0 {
		m.addf("%s: no spec.selector", id)
	} else if sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err != nil {
		m.addf("%s: spec.selector: %v", id, err)
	} else if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		m.addf("%s: spec.selector %s does not match the pod template's labels %v", id, sel, d.Spec.Template.Labels)
	}
	if d.Spec.Template.Labels["app.kubernetes.io/name"] == "" {
		m.addf("%s: pod template without an app.kubernetes.io/name label", id)
	}
	if len(pod.Containers) == 0 {
		m.addf("%s: no containers", id)
	}
	podSC := pod.SecurityContext
	if podSC == nil {
		podSC = &corev1.PodSecurityContext{}
	}
	volumes := map[string]bool{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = true
		if v.ConfigMap != nil {
			m.requireConfigMap(id+": volume "+v.Name, v.ConfigMap.Name, "", v.ConfigMap.Optional)
		}
		if v.Secret != nil {
			m.requireSecret(id+": volume "+v.Name, v.Secret.SecretName, "", v.Secret.Optional)
		}
	}
	all := append(slices.Clone(pod.InitContainers), pod.Containers...)
	for i, c := range all {
		cid := fmt.Sprintf("%s: container %q", id, c.Name)
		m.checkImage(cid, c.Image)
		m.checkResources(cid, c.Resources)
		m.checkSecurity(cid, c.SecurityContext, podSC)
		m.checkEnvironment(cid, c)
		for _, vm := range c.VolumeMounts {
			if !volumes[vm.Name] {
				m.addf("%s: mounts volume %q, which the pod does not have", cid, vm.Name)
			}
		}
		if i >= len(pod.InitContainers) {
			m.checkProbes(cid, c)
		}
	}
	m.checkSpread(id, pod.TopologySpreadConstraints, d.Spec.Template.Labels)
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		m.addf("%s: automountServiceAccountToken is not false (no service here talks to the Kubernetes API)", id)
	}
}

// checkSpread applies the API server's rules for matchLabelKeys, which a decode cannot see.
// A constraint whose selector misses the pod's own labels spreads nothing, silently.
func (m *manifests) checkSpread(id string, constraints []corev1.TopologySpreadConstraint, podLabels map[string]string) {
	for i, c := range constraints {
		if c.LabelSelector != nil {
			sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
			if err != nil {
				m.addf("%s: topologySpreadConstraints[%d]: %v", id, i, err)
			} else if !sel.Matches(labels.Set(podLabels)) {
				m.addf("%s: topologySpreadConstraints[%d]: the selector %s misses the pod's own labels", id, i, sel)
			}
		}
		if len(c.MatchLabelKeys) == 0 {
			continue
		}
		if c.LabelSelector == nil {
			m.addf("%s: topologySpreadConstraints[%d]: matchLabelKeys without a labelSelector", id, i)
			continue
		}
		for _, key := range c.MatchLabelKeys {
			_, inLabels := c.LabelSelector.MatchLabels[key]
			inExpressions := slices.ContainsFunc(c.LabelSelector.MatchExpressions,
				func(r metav1.LabelSelectorRequirement) bool { return r.Key == key })
			if inLabels || inExpressions {
				m.addf("%s: topologySpreadConstraints[%d]: %q is in both matchLabelKeys and the labelSelector (the API server refuses it)", id, i, key)
			}
		}
	}
}

func (m *manifests) checkImage(cid, image string) {
	if image == "" {
		m.addf("%s: no image", cid)
		return
	}
	if strings.Contains(image, "@sha256:") {
		return // pinned by digest
	}
	name := image[strings.LastIndex(image, "/")+1:]
	tag := ""
	if i := strings.LastIndex(name, ":"); i >= 0 {
		tag = name[i+1:]
	}
	switch tag {
	case "":
		m.addf("%s: image %q has no tag (it would run :latest)", cid, image)
	case "latest":
		m.addf("%s: image %q is not pinned (:latest)", cid, image)
	}
}

func (m *manifests) checkResources(cid string, r corev1.ResourceRequirements) {
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := r.Requests[name]
		limit, hasLimit := r.Limits[name]
		if !hasReq {
			m.addf("%s: no %s request", cid, name)
		}
		if !hasLimit {
			m.addf("%s: no %s limit", cid, name)
		}
		if hasReq && hasLimit && req.Cmp(limit) > 0 {
			m.addf("%s: %s request %s exceeds its limit %s", cid, name, req.String(), limit.String())
		}
	}
}

func (m *manifests) checkSecurity(cid string, sc *corev1.SecurityContext, pod *corev1.PodSecurityContext) {
	if sc == nil {
		m.addf("%s: no securityContext", cid)
		sc = &corev1.SecurityContext{}
	}
	nonRoot := sc.RunAsNonRoot
	if nonRoot == nil {
		nonRoot = pod.RunAsNonRoot
	}
	if nonRoot == nil || !*nonRoot {
		m.addf("%s: runAsNonRoot is not true", cid)
	}
	user := sc.RunAsUser
	if user == nil {
		user = pod.RunAsUser
	}
	// An image's USER given by name (these images say `nobody`) cannot be checked by the
	// kubelet against runAsNonRoot: the pod would not start. A numeric runAsUser can.
	if user == nil {
		m.addf("%s: no numeric runAsUser (the kubelet cannot verify a user named in the image)", cid)
	} else if *user == 0 {
		m.addf("%s: runAsUser is 0 (root)", cid)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		m.addf("%s: allowPrivilegeEscalation is not false", cid)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		m.addf("%s: readOnlyRootFilesystem is not true", cid)
	}
	if sc.Privileged != nil && *sc.Privileged {
		m.addf("%s: privileged", cid)
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		m.addf("%s: capabilities do not drop ALL", cid)
	} else if len(sc.Capabilities.Add) > 0 {
		m.addf("%s: adds capabilities %v", cid, sc.Capabilities.Add)
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil {
		seccomp = pod.SeccompProfile
	}
	if seccomp == nil || seccomp.Type == corev1.SeccompProfileTypeUnconfined {
		m.addf("%s: no seccomp profile (RuntimeDefault)", cid)
	}
}

func (m *manifests) checkEnvironment(cid string, c corev1.Container) {
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			continue
		}
		if ref := e.ValueFrom.SecretKeyRef; ref != nil {
			m.requireSecret(cid+": env "+e.Name, ref.Name, ref.Key, ref.Optional)
		}
		if ref := e.ValueFrom.ConfigMapKeyRef; ref != nil {
			m.requireConfigMap(cid+": env "+e.Name, ref.Name, ref.Key, ref.Optional)
		}
	}
	for _, from := range c.EnvFrom {
		if ref := from.ConfigMapRef; ref != nil {
			m.requireConfigMap(cid+": envFrom", ref.Name, "", ref.Optional)
		}
		if ref := from.SecretRef; ref != nil {
			m.requireSecret(cid+": envFrom", ref.Name, "", ref.Optional)
		}
	}
}

func (m *manifests) requireSecret(where, name, key string, optional *bool) {
	requireKey(m, where, "Secret", m.secrets, name, key, optional)
}

func (m *manifests) requireConfigMap(where, name, key string, optional *bool) {
	requireKey(m, where, "ConfigMap", m.configMaps, name, key, optional)
}

func requireKey(m *manifests, where, kind string, objects map[string][]string, name, key string, optional *bool) {
	if optional != nil && *optional {
		return
	}
	keys, ok := objects[name]
	switch {
	case !ok:
		m.addf("%s: refers to %s %q, which neither the build nor -external defines", where, kind, name)
	case key != "" && !slices.Contains(keys, key):
		m.addf("%s: refers to key %q of %s %q, which has only %v", where, key, kind, name, sortedCopy(keys))
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

func (m *manifests) checkProbes(cid string, c corev1.Container) {
	if c.LivenessProbe == nil {
		m.addf("%s: no livenessProbe", cid)
	}
	if c.ReadinessProbe == nil {
		m.addf("%s: no readinessProbe", cid)
	}
	probes := map[string]*corev1.Probe{
		"livenessProbe": c.LivenessProbe, "readinessProbe": c.ReadinessProbe, "startupProbe": c.StartupProbe,
	}
	for kind, p := range probes {
		if p == nil {
			continue
		}
		switch {
		case p.HTTPGet != nil:
			m.checkPort(cid, kind, c, p.HTTPGet.Port)
			if !strings.HasPrefix(p.HTTPGet.Path, "/") {
				m.addf("%s: %s path %q does not start with /", cid, kind, p.HTTPGet.Path)
			}
		case p.TCPSocket != nil:
			m.checkPort(cid, kind, c, p.TCPSocket.Port)
		case p.GRPC != nil:
			m.checkPort(cid, kind, c, intstr.FromInt32(p.GRPC.Port))
		case p.Exec != nil:
			if len(p.Exec.Command) == 0 {
				m.addf("%s: %s exec without a command", cid, kind)
			}
		default:
			m.addf("%s: %s has no handler", cid, kind)
		}
	}
	// A liveness probe that asks what readiness asks (the broker, the database) restarts every
	// pod when a dependency is down, which only adds a restart storm to the outage.
	if l, r := c.LivenessProbe, c.ReadinessProbe; l != nil && r != nil && l.HTTPGet != nil && r.HTTPGet != nil &&
		l.HTTPGet.Path == r.HTTPGet.Path && l.HTTPGet.Port == r.HTTPGet.Port {
		m.addf("%s: livenessProbe asks the readiness endpoint %s: a dependency's outage would restart every pod", cid, l.HTTPGet.Path)
	}
}

func (m *manifests) checkPort(cid, kind string, c corev1.Container, port intstr.IntOrString) {
	for _, p := range c.Ports {
		if (port.Type == intstr.String && p.Name == port.StrVal) ||
			(port.Type == intstr.Int && p.ContainerPort == port.IntVal) {
			return
		}
	}
	m.addf("%s: %s port %s is not a port of the container", cid, kind, port.String())
}

// selects returns the Deployments whose pods a selector matches.
func (m *manifests) selects(where string, selector *metav1.LabelSelector) []*appsv1.Deployment {
	if selector == nil {
		m.addf("%s: no selector", where)
		return nil
	}
	sel, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		m.addf("%s: selector: %v", where, err)
		return nil
	}
	if sel.Empty() {
		m.addf("%s: empty selector (it selects every pod of the namespace)", where)
		return nil
	}
	var out []*appsv1.Deployment
	for _, d := range m.deployments {
		if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			out = append(out, d)
		}
	}
	return out
}

func (m *manifests) checkDisruptionBudgets() {
	covered := map[string]int{}
	for _, pdb := range m.pdbs {
		id := "PodDisruptionBudget/" + pdb.Name
		matched := m.selects(id, pdb.Spec.Selector)
		if len(matched) == 0 && pdb.Spec.Selector != nil {
			m.addf("%s: selects no Deployment's pods", id)
		}
		for _, d := range matched {
			covered[d.Name]++
		}
		if pdb.Spec.MinAvailable == nil && pdb.Spec.MaxUnavailable == nil {
			m.addf("%s: neither minAvailable nor maxUnavailable", id)
		}
		if mu := pdb.Spec.MaxUnavailable; mu != nil && mu.String() == "0" || mu != nil && mu.String() == "0%" {
			m.addf("%s: maxUnavailable 0 blocks every node drain", id)
		}
		if ma := pdb.Spec.MinAvailable; ma != nil && ma.Type == intstr.String && ma.StrVal == "100%" {
			m.addf("%s: minAvailable 100%% blocks every node drain", id)
		}
		if ma := pdb.Spec.MinAvailable; ma != nil && ma.Type == intstr.Int {
			for _, d := range matched {
				if low := m.lowestReplicas(d); low >= 0 && int(ma.IntVal) >= low {
					m.addf("%s: minAvailable %d with as few as %d replicas of %s blocks every node drain", id, ma.IntVal, low, d.Name)
				}
			}
		}
	}
	for _, d := range m.deployments {
		switch covered[d.Name] {
		case 0:
			m.addf("Deployment/%s: no PodDisruptionBudget selects its pods", d.Name)
		case 1:
		default:
			m.addf("Deployment/%s: %d PodDisruptionBudgets select its pods (the eviction API refuses that)", d.Name, covered[d.Name])
		}
	}
}

// lowestReplicas is the fewest pods a Deployment may run: its autoscaler's minimum, else its
// replicas (1 when unset); -1 when unknown.
func (m *manifests) lowestReplicas(d *appsv1.Deployment) int {
	for _, h := range m.hpas {
		if h.Spec.ScaleTargetRef.Name == d.Name {
			if h.Spec.MinReplicas == nil {
				return 1
			}
			return int(*h.Spec.MinReplicas)
		}
	}
	for _, s := range m.scaled {
		if s.Spec.ScaleTargetRef.Name == d.Name {
			if s.Spec.MinReplicaCount == nil {
				return 0
			}
			return int(*s.Spec.MinReplicaCount)
		}
	}
	if d.Spec.Replicas == nil {
		return 1
	}
	return int(*d.Spec.Replicas)
}

func (m *manifests) checkServices() {
	for _, s := range m.services {
		id := "Service/" + s.Name
		matched := m.selects(id, &metav1.LabelSelector{MatchLabels: s.Spec.Selector})
		if len(matched) == 0 && len(s.Spec.Selector) > 0 {
			m.addf("%s: selects no Deployment's pods", id)
		}
		for _, port := range s.Spec.Ports {
			target := port.TargetPort
			if target.Type == intstr.Int && target.IntVal == 0 {
				target = intstr.FromInt32(port.Port)
			}
			for _, d := range matched {
				if !podHasPort(d.Spec.Template.Spec, target) {
					m.addf("%s: port %q targets %s, which no container of Deployment/%s has", id, port.Name, target.String(), d.Name)
				}
			}
		}
	}
}

func podHasPort(pod corev1.PodSpec, target intstr.IntOrString) bool {
	for _, c := range pod.Containers {
		for _, p := range c.Ports {
			if (target.Type == intstr.String && p.Name == target.StrVal) ||
				(target.Type == intstr.Int && p.ContainerPort == target.IntVal) {
				return true
			}
		}
	}
	return false
}

func (m *manifests) deployment(name string) *appsv1.Deployment {
	for _, d := range m.deployments {
		if d.Name == name {
			return d
		}
	}
	return nil
}

func (m *manifests) checkAutoscaling() {
	owners := map[string][]string{}
	target := func(id, apiVersion, kind, name string) {
		if kind != "Deployment" || (apiVersion != "" && apiVersion != "apps/v1") {
			m.addf("%s: scales %s %s; only apps/v1 Deployments are expected", id, apiVersion, kind)
			return
		}
		if m.deployment(name) == nil {
			m.addf("%s: scales Deployment/%s, which the build does not define", id, name)
			return
		}
		owners[name] = append(owners[name], id)
	}
	for _, h := range m.hpas {
		id := "HorizontalPodAutoscaler/" + h.Name
		ref := h.Spec.ScaleTargetRef
		target(id, ref.APIVersion, ref.Kind, ref.Name)
		if h.Spec.MinReplicas != nil && *h.Spec.MinReplicas > h.Spec.MaxReplicas {
			m.addf("%s: minReplicas %d above maxReplicas %d", id, *h.Spec.MinReplicas, h.Spec.MaxReplicas)
		}
		if len(h.Spec.Metrics) == 0 {
			m.addf("%s: no metrics", id)
		}
	}
	for _, s := range m.scaled {
		id := "ScaledObject/" + s.Name
		ref := s.Spec.ScaleTargetRef
		kind := ref.Kind
		if kind == "" {
			kind = "Deployment" // KEDA's default
		}
		target(id, ref.APIVersion, kind, ref.Name)
		if s.Spec.MinReplicaCount != nil && s.Spec.MaxReplicaCount != nil && *s.Spec.MinReplicaCount > *s.Spec.MaxReplicaCount {
			m.addf("%s: minReplicaCount %d above maxReplicaCount %d", id, *s.Spec.MinReplicaCount, *s.Spec.MaxReplicaCount)
		}
		if len(s.Spec.Triggers) == 0 {
			m.addf("%s: no triggers", id)
		}
		for i, t := range s.Spec.Triggers {
			m.checkTrigger(fmt.Sprintf("%s: trigger %d (%s)", id, i, t.Type), t)
		}
	}
	for name, by := range owners {
		if len(by) > 1 {
			m.addf("Deployment/%s: scaled by %d autoscalers (%s); they would fight", name, len(by), strings.Join(by, ", "))
		}
		if d := m.deployment(name); d != nil && d.Spec.Replicas != nil {
			m.addf("Deployment/%s: sets spec.replicas although %s owns the count: every apply would reset it", name, by[0])
		}
	}
	for name, ta := range m.triggerAuth {
		for _, ref := range ta.Spec.SecretTargetRef {
			m.requireSecret("TriggerAuthentication/"+name+": parameter "+ref.Parameter, ref.Name, ref.Key, nil)
		}
	}
}

func (m *manifests) checkTrigger(tid string, t ScaleTrigger) {
	if t.Type != "rabbitmq" {
		m.addf("%s: only rabbitmq triggers are expected", tid)
		return
	}
	md := t.Metadata
	if md["queueName"] == "" {
		m.addf("%s: no queueName", tid)
	}
	if mode := md["mode"]; mode != "QueueLength" && mode != "MessageRate" {
		m.addf("%s: mode %q is not QueueLength or MessageRate", tid, mode)
	}
	if v, err := strconv.ParseFloat(md["value"], 64); err != nil || v <= 0 {
		m.addf("%s: value %q is not a positive number", tid, md["value"])
	}
	if p := md["protocol"]; p != "" && p != "amqp" && p != "http" && p != "auto" {
		m.addf("%s: protocol %q is not amqp, http or auto", tid, p)
	}
	for _, key := range []string{"host", "password", "username"} {
		if md[key] != "" {
			m.addf("%s: metadata.%s in the manifest: credentials belong in a TriggerAuthentication", tid, key)
		}
	}
	if t.AuthenticationRef == nil {
		m.addf("%s: no authenticationRef (where would KEDA find the broker?)", tid)
		return
	}
	if k := t.AuthenticationRef.Kind; k != "" && k != "TriggerAuthentication" {
		return // a ClusterTriggerAuthentication lives outside this build
	}
	ta, ok := m.triggerAuth[t.AuthenticationRef.Name]
	if !ok {
		m.addf("%s: authenticationRef %q names no TriggerAuthentication of the build", tid, t.AuthenticationRef.Name)
		return
	}
	if !slices.ContainsFunc(ta.Spec.SecretTargetRef, func(r SecretTargetRef) bool { return r.Parameter == "host" }) {
		m.addf("%s: TriggerAuthentication/%s gives no host parameter", tid, ta.Name)
	}
}

func (m *manifests) checkOperators() {
	for _, r := range m.rabbits {
		id := "RabbitmqCluster/" + r.Name
		// Quorum queues need a majority: an even count adds a node without adding tolerance.
		if r.Spec.Replicas == nil || *r.Spec.Replicas%2 == 0 {
			m.addf("%s: replicas must be odd (quorum queues keep a majority)", id)
		}
		if r.Spec.Image != "" {
			m.checkImage(id, r.Spec.Image)
		}
		if r.Spec.Resources == nil {
			m.addf("%s: no resources", id)
		} else {
			m.checkResources(id, *r.Spec.Resources)
		}
	}
	for _, mg := range m.mongos {
		id := "MongoDBCommunity/" + mg.Name
		if mg.Spec.Type != "ReplicaSet" {
			m.addf("%s: type %q is not ReplicaSet", id, mg.Spec.Type)
		}
		if mg.Spec.Members < 1 || mg.Spec.Members%2 == 0 {
			m.addf("%s: members must be odd (an election needs a majority)", id)
		}
		if mg.Spec.Version == "" {
			m.addf("%s: no version", id)
		}
		if len(mg.Spec.Users) == 0 {
			m.addf("%s: no users", id)
		}
		for _, u := range mg.Spec.Users {
			key := u.PasswordSecretRef.Key
			if key == "" {
				key = "password"
			}
			m.requireSecret(id+": user "+u.Name, u.PasswordSecretRef.Name, key, nil)
		}
	}
}
