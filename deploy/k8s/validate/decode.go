package main

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"
)

// The kinds the manifests may contain, by apiVersion and kind. Built-in kinds decode into
// their k8s.io/api types; the operators' custom resources into the mirrors of crds.go. Any
// other kind is a problem: a new kind gets a decoder here before it ships.
var decoders = map[metav1.TypeMeta]func() any{
	{APIVersion: "v1", Kind: "Namespace"}:                                     func() any { return &corev1.Namespace{} },
	{APIVersion: "v1", Kind: "ConfigMap"}:                                     func() any { return &corev1.ConfigMap{} },
	{APIVersion: "v1", Kind: "Secret"}:                                        func() any { return &corev1.Secret{} },
	{APIVersion: "v1", Kind: "Service"}:                                       func() any { return &corev1.Service{} },
	{APIVersion: "apps/v1", Kind: "Deployment"}:                               func() any { return &appsv1.Deployment{} },
	{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"}:                    func() any { return &policyv1.PodDisruptionBudget{} },
	{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"}:           func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	{APIVersion: "keda.sh/v1alpha1", Kind: "ScaledObject"}:                    func() any { return &ScaledObject{} },
	{APIVersion: "keda.sh/v1alpha1", Kind: "TriggerAuthentication"}:           func() any { return &TriggerAuthentication{} },
	{APIVersion: "rabbitmq.com/v1beta1", Kind: "RabbitmqCluster"}:             func() any { return &RabbitmqCluster{} },
	{APIVersion: "mongodbcommunity.mongodb.com/v1", Kind: "MongoDBCommunity"}: func() any { return &MongoDBCommunity{} },
}

// object is one decoded manifest.
type object struct {
	Source string
	Kind   string
	Name   string
	Value  any // a pointer to the typed struct
}

func (o object) String() string { return o.Kind + "/" + o.Name }

// decode reads one manifest strictly: case-sensitive field names, no unknown and no
// duplicate fields (sigs.k8s.io/json, the decoder of the API server's strict validation).
func decode(raw rawObject) (object, []string) {
	var meta struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := kjson.UnmarshalCaseSensitivePreserveInts(raw.JSON, &meta); err != nil {
		return object{}, []string{fmt.Sprintf("%s: not an object: %v", raw.Source, err)}
	}
	id := meta.Kind + "/" + meta.Metadata.Name
	if meta.Metadata.Name == "" {
		return object{}, []string{fmt.Sprintf("%s: %s without metadata.name", raw.Source, meta.Kind)}
	}
	factory, ok := decoders[meta.TypeMeta]
	if !ok {
		return object{}, []string{fmt.Sprintf(
			"%s: unknown apiVersion/kind %s %s (no decoder in deploy/k8s/validate)",
			id, meta.APIVersion, meta.Kind)}
	}
	value := factory()
	strict, err := kjson.UnmarshalStrict(raw.JSON, value)
	if err != nil {
		return object{}, []string{fmt.Sprintf("%s: does not decode as %s: %v", id, meta.APIVersion, err)}
	}
	var problems []string
	for _, e := range strict { // "unknown field \"spec.template.spec.containers[0].livenessprobe\""
		problems = append(problems, fmt.Sprintf("%s: %v", id, e))
	}
	return object{Source: raw.Source, Kind: meta.Kind, Name: meta.Metadata.Name, Value: value}, problems
}
