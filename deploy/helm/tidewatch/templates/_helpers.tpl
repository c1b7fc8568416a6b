{{- define "tidewatch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tidewatch.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "tidewatch.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "tidewatch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tidewatch
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "collector") */}}
{{- define "tidewatch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tidewatch.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "tidewatch.image" -}}
{{- $tag := default .root.Chart.AppVersion .root.Values.image.tag -}}
{{- printf "%s/%s/%s:%s" .root.Values.image.registry .root.Values.image.repository .component $tag -}}
{{- end -}}

{{/* The four services, in pipeline order, with the values key each reads. */}}
{{- define "tidewatch.components" -}}
collector: collector
sequencer: sequencer
inference: inference
query-api: queryApi
{{- end -}}

{{/* Connection environment shared by every service; credentials only from Secrets. */}}
{{- define "tidewatch.connectionEnv" -}}
- name: KAFKA_BROKERS
  value: {{ .Values.kafka.brokers | quote }}
{{- if .Values.kafka.existingSecret }}
- name: KAFKA_SASL_MECHANISM
  value: {{ .Values.kafka.sasl.mechanism | quote }}
- name: KAFKA_SASL_USERNAME
  valueFrom: { secretKeyRef: { name: {{ .Values.kafka.existingSecret }}, key: username } }
- name: KAFKA_SASL_PASSWORD
  valueFrom: { secretKeyRef: { name: {{ .Values.kafka.existingSecret }}, key: password } }
{{- end }}
{{- if .Values.kafka.tls }}
- name: KAFKA_TLS
  value: "true"
{{- end }}
{{- if .Values.redis.existingSecret }}
- name: REDIS_URL
  valueFrom: { secretKeyRef: { name: {{ .Values.redis.existingSecret }}, key: {{ .Values.redis.existingSecretKey }} } }
{{- else }}
- name: REDIS_URL
  value: {{ .Values.redis.url | quote }}
{{- end }}
- name: QDRANT_URL
  value: {{ .Values.qdrant.url | quote }}
{{- if .Values.qdrant.existingSecret }}
- name: QDRANT_API_KEY
  valueFrom: { secretKeyRef: { name: {{ .Values.qdrant.existingSecret }}, key: {{ .Values.qdrant.existingSecretKey }} } }
{{- end }}
- name: TIDEWATCH_HTTP_PORT
  value: "8080"
- name: LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- end -}}
