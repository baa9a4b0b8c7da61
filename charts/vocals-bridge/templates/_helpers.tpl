{{/* Chart name, truncated to the 63 characters Kubernetes allows. */}}
{{- define "vocals-bridge.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: release-chart unless the release already says it. */}}
{{- define "vocals-bridge.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "vocals-bridge.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "vocals-bridge.labels" -}}
helm.sh/chart: {{ include "vocals-bridge.chart" . }}
{{ include "vocals-bridge.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "vocals-bridge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vocals-bridge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "vocals-bridge.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "vocals-bridge.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "vocals-bridge.secretName" -}}
{{- default (include "vocals-bridge.fullname" .) .Values.secret.existingSecret }}
{{- end }}

{{/* The workload kind: a StatefulSet when each pod keeps its spool volume. */}}
{{- define "vocals-bridge.workloadKind" -}}
{{- if .Values.persistence.enabled }}StatefulSet{{ else }}Deployment{{ end }}
{{- end }}

{{/* The pod template shared by the StatefulSet and the Deployment. */}}
{{- define "vocals-bridge.podTemplate" -}}
metadata:
  annotations:
    checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  labels:
    {{- include "vocals-bridge.labels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  serviceAccountName: {{ include "vocals-bridge.serviceAccountName" . }}
  automountServiceAccountToken: false
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  containers:
    - name: vocals-bridge
      image: "{{ include "vocals-bridge.repository" . }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args: ["--config", "/etc/vocals-bridge/config.yaml"]
      env:
        - name: VOCALS_BRIDGE_DATA_DIR
          value: /data
        {{- if (.Values.resources.limits).memory }}
        # The Go runtime collects harder as the heap nears the container's
        # limit instead of being killed at it.
        - name: GOMEMLIMIT
          valueFrom:
            resourceFieldRef:
              resource: limits.memory
        {{- end }}
        {{- with .Values.otel }}
        {{- if .endpoint }}
        - name: OTEL_EXPORTER_OTLP_ENDPOINT
          value: {{ .endpoint | quote }}
        - name: OTEL_EXPORTER_OTLP_PROTOCOL
          value: {{ .protocol | default "http/protobuf" | quote }}
        - name: OTEL_SERVICE_NAME
          value: {{ .serviceName | default "vocals-bridge" | quote }}
        - name: OTEL_TRACES_SAMPLER
          value: {{ .sampler | default "parentbased_always_on" | quote }}
        {{- with .samplerArg }}
        - name: OTEL_TRACES_SAMPLER_ARG
          value: {{ . | quote }}
        {{- end }}
        {{- with .resourceAttributes }}
        - name: OTEL_RESOURCE_ATTRIBUTES
          value: {{ . | quote }}
        {{- end }}
        {{- end }}
        {{- end }}
        - name: VOCALS_BRIDGE_WEBHOOK_HMAC_KEY
          valueFrom:
            secretKeyRef:
              name: {{ include "vocals-bridge.secretName" . }}
              key: webhook-hmac-key
              optional: true
        - name: VOCALS_BRIDGE_STANDARD_WEBHOOK_SECRET
          valueFrom:
            secretKeyRef:
              name: {{ include "vocals-bridge.secretName" . }}
              key: standard-webhook-secret
              optional: true
        - name: VOCALS_BRIDGE_CALLBACK_TOKEN
          valueFrom:
            secretKeyRef:
              name: {{ include "vocals-bridge.secretName" . }}
              key: callback-token
              optional: true
        - name: VOCALS_BRIDGE_PROVIDER_API_KEY
          valueFrom:
            secretKeyRef:
              name: {{ include "vocals-bridge.secretName" . }}
              key: provider-api-key
              optional: true
        - name: VOCALS_BRIDGE_SUBMIT_TOKEN
          valueFrom:
            secretKeyRef:
              name: {{ include "vocals-bridge.secretName" . }}
              key: submit-token
              optional: true
        - name: VOCALS_BRIDGE_ADMIN_TOKEN
          valueFrom:
            secretKeyRef:
              name: {{ include "vocals-bridge.secretName" . }}
              key: admin-token
              optional: true
        {{- if .Values.natsCredentials.existingSecret }}
        - name: VOCALS_BRIDGE_NATS_CREDS_FILE
          value: /etc/vocals-bridge/nats/nats.creds
        {{- end }}
      ports:
        - name: http
          containerPort: 8080
          protocol: TCP
        - name: admin
          containerPort: 8081
          protocol: TCP
        {{- if .Values.config.submit_addr }}
        - name: submit
          containerPort: {{ (splitList ":" .Values.config.submit_addr) | last | int }}
          protocol: TCP
        {{- end }}
      livenessProbe:
        {{- toYaml .Values.livenessProbe | nindent 8 }}
      readinessProbe:
        {{- toYaml .Values.readinessProbe | nindent 8 }}
      resources:
        {{- /* Without persistence the spool is on the node's disk: request
        it, and allow it plus the logs. */}}
        {{- $resources := deepCopy .Values.resources }}
        {{- if not .Values.persistence.enabled }}
        {{- $requests := default dict $resources.requests }}
        {{- $_ := set $requests "ephemeral-storage" .Values.persistence.emptyDirSizeLimit }}
        {{- $_ := set $resources "requests" $requests }}
        {{- $limits := default dict $resources.limits }}
        {{- $_ := set $limits "ephemeral-storage" .Values.persistence.emptyDirEphemeralLimit }}
        {{- $_ := set $resources "limits" $limits }}
        {{- end }}
        {{- toYaml $resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /etc/vocals-bridge
          readOnly: true
        - name: data
          mountPath: /data
        {{- if .Values.natsCredentials.existingSecret }}
        - name: nats-credentials
          mountPath: /etc/vocals-bridge/nats
          readOnly: true
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "vocals-bridge.fullname" . }}
    {{- if not .Values.persistence.enabled }}
    - name: data
      emptyDir:
        sizeLimit: {{ .Values.persistence.emptyDirSizeLimit }}
    {{- end }}
    {{- if .Values.natsCredentials.existingSecret }}
    - name: nats-credentials
      secret:
        secretName: {{ .Values.natsCredentials.existingSecret }}
        items:
          - key: nats.creds
            path: nats.creds
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if .Values.affinity }}
  affinity:
    {{- toYaml .Values.affinity | nindent 4 }}
  {{- else if eq .Values.podAntiAffinity "soft" }}
  affinity:
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
        - weight: 100
          podAffinityTerm:
            topologyKey: kubernetes.io/hostname
            labelSelector:
              matchLabels:
                {{- include "vocals-bridge.selectorLabels" . | nindent 16 }}
  {{- else if eq .Values.podAntiAffinity "hard" }}
  affinity:
    podAntiAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        - topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- include "vocals-bridge.selectorLabels" . | nindent 14 }}
  {{- end }}
  {{- with .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- range . }}
    - {{ toYaml . | nindent 6 | trim }}
      labelSelector:
        matchLabels:
          {{- include "vocals-bridge.selectorLabels" $ | nindent 10 }}
    {{- end }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/*
The image repository, which the user must name: the project publishes no
image, and a bare name would be pulled from Docker Hub.
*/}}
{{- define "vocals-bridge.repository" -}}
{{- required "image.repository: set it to the registry/name you pushed the bridge's image to (docker build -t <registry>/vocals-bridge:<appVersion> .); the project publishes none" .Values.image.repository -}}
{{- end }}
