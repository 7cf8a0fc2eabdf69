package main

// Mirrors of the custom resources the manifests use, for strict decoding. No Go module of
// KEDA, the RabbitMQ Cluster Operator or the MongoDB Community Operator is served here (and
// each would bring its controller's dependencies), so these structs copy the fields of their
// CRDs that the manifests set, with the CRDs' JSON names and types. A field that is valid in
// the CRD but not mirrored here is refused: add it here, from the operator's API reference,
// when a manifest first needs it. Embedded Kubernetes types (resources, affinity, behavior,
// a StatefulSet spec) are the k8s.io/api types themselves.

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ScaledObject is keda.sh/v1alpha1 ScaledObject.
type ScaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              ScaledObjectSpec `json:"spec"`
}

type ScaledObjectSpec struct {
	ScaleTargetRef        ScaleTarget     `json:"scaleTargetRef"`
	PollingInterval       *int32          `json:"pollingInterval,omitempty"`
	InitialCooldownPeriod *int32          `json:"initialCooldownPeriod,omitempty"`
	CooldownPeriod        *int32          `json:"cooldownPeriod,omitempty"`
	IdleReplicaCount      *int32          `json:"idleReplicaCount,omitempty"`
	MinReplicaCount       *int32          `json:"minReplicaCount,omitempty"`
	MaxReplicaCount       *int32          `json:"maxReplicaCount,omitempty"`
	Fallback              *Fallback       `json:"fallback,omitempty"`
	Advanced              *AdvancedConfig `json:"advanced,omitempty"`
	Triggers              []ScaleTrigger  `json:"triggers"`
}

type ScaleTarget struct {
	APIVersion             string `json:"apiVersion,omitempty"`
	Kind                   string `json:"kind,omitempty"`
	Name                   string `json:"name"`
	EnvSourceContainerName string `json:"envSourceContainerName,omitempty"`
}

type Fallback struct {
	FailureThreshold int32 `json:"failureThreshold"`
	Replicas         int32 `json:"replicas"`
}

type AdvancedConfig struct {
	HorizontalPodAutoscalerConfig *HPAConfig `json:"horizontalPodAutoscalerConfig,omitempty"`
	RestoreToOriginalReplicaCount bool       `json:"restoreToOriginalReplicaCount,omitempty"`
}

type HPAConfig struct {
	Name     string                                         `json:"name,omitempty"`
	Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
}

type ScaleTrigger struct {
	Type              string                         `json:"type"`
	Name              string                         `json:"name,omitempty"`
	Metadata          map[string]string              `json:"metadata"`
	AuthenticationRef *AuthenticationRef             `json:"authenticationRef,omitempty"`
	MetricType        autoscalingv2.MetricTargetType `json:"metricType,omitempty"`
	UseCachedMetrics  bool                           `json:"useCachedMetrics,omitempty"`
}

type AuthenticationRef struct {
	Name string `json:"name"`
	Kind string `json:"kind,omitempty"` // TriggerAuthentication (default) or ClusterTriggerAuthentication
}

// TriggerAuthentication is keda.sh/v1alpha1 TriggerAuthentication.
type TriggerAuthentication struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              TriggerAuthenticationSpec `json:"spec"`
}

type TriggerAuthenticationSpec struct {
	SecretTargetRef []SecretTargetRef `json:"secretTargetRef,omitempty"`
}

type SecretTargetRef struct {
	Parameter string `json:"parameter"`
	Name      string `json:"name"`
	Key       string `json:"key"`
}

// RabbitmqCluster is rabbitmq.com/v1beta1 RabbitmqCluster.
type RabbitmqCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              RabbitmqClusterSpec `json:"spec"`
}

type RabbitmqClusterSpec struct {
	Replicas                      *int32                        `json:"replicas,omitempty"`
	Image                         string                        `json:"image,omitempty"`
	ImagePullSecrets              []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`
	Resources                     *corev1.ResourceRequirements  `json:"resources,omitempty"`
	Persistence                   *RabbitmqPersistence          `json:"persistence,omitempty"`
	Rabbitmq                      *RabbitmqConfig               `json:"rabbitmq,omitempty"`
	Affinity                      *corev1.Affinity              `json:"affinity,omitempty"`
	Tolerations                   []corev1.Toleration           `json:"tolerations,omitempty"`
	TerminationGracePeriodSeconds *int64                        `json:"terminationGracePeriodSeconds,omitempty"`
}

type RabbitmqPersistence struct {
	StorageClassName *string            `json:"storageClassName,omitempty"`
	Storage          *resource.Quantity `json:"storage,omitempty"`
}

type RabbitmqConfig struct {
	AdditionalPlugins []string `json:"additionalPlugins,omitempty"`
	AdditionalConfig  string   `json:"additionalConfig,omitempty"`
	AdvancedConfig    string   `json:"advancedConfig,omitempty"`
	EnvConfig         string   `json:"envConfig,omitempty"`
}

// MongoDBCommunity is mongodbcommunity.mongodb.com/v1 MongoDBCommunity.
type MongoDBCommunity struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              MongoDBCommunitySpec `json:"spec"`
}

type MongoDBCommunitySpec struct {
	Type                        string              `json:"type"`
	Members                     int32               `json:"members"`
	Version                     string              `json:"version"`
	FeatureCompatibilityVersion string              `json:"featureCompatibilityVersion,omitempty"`
	Security                    MongoDBSecurity     `json:"security"`
	Users                       []MongoDBUser       `json:"users"`
	AdditionalMongodConfig      map[string]any      `json:"additionalMongodConfig,omitempty"`
	StatefulSet                 *MongoDBStatefulSet `json:"statefulSet,omitempty"`
}

type MongoDBSecurity struct {
	Authentication MongoDBAuthentication `json:"authentication"`
}

type MongoDBAuthentication struct {
	Modes              []string `json:"modes"`
	IgnoreUnknownUsers *bool    `json:"ignoreUnknownUsers,omitempty"`
}

type MongoDBUser struct {
	Name                       string        `json:"name"`
	DB                         string        `json:"db"`
	PasswordSecretRef          SecretKeyRef  `json:"passwordSecretRef"`
	Roles                      []MongoDBRole `json:"roles"`
	ScramCredentialsSecretName string        `json:"scramCredentialsSecretName"`
	ConnectionStringSecretName string        `json:"connectionStringSecretName,omitempty"`
}

type SecretKeyRef struct {
	Name string `json:"name"`
	Key  string `json:"key,omitempty"` // default "password"
}

type MongoDBRole struct {
	Name string `json:"name"`
	DB   string `json:"db"`
}

type MongoDBStatefulSet struct {
	Spec appsv1.StatefulSetSpec `json:"spec"`
}
