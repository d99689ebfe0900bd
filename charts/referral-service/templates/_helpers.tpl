{{/*
Names, labels and the small decisions several templates share. Validation of combinations
the schema cannot express lives in "referral-service.validate", included by the Deployment.
*/}}

{{- define "referral-service.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: <release>-<chart>, or the release name when it already contains the chart name. */}}
{{- define "referral-service.fullname" -}}
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

{{- define "referral-service.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: immutable once a Deployment exists, so only name and instance. */}}
{{- define "referral-service.selectorLabels" -}}
app.kubernetes.io/name: {{ include "referral-service.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Recommended Kubernetes labels, put on every resource of the service. */}}
{{- define "referral-service.labels" -}}
{{ include "referral-service.selectorLabels" . }}
app.kubernetes.io/component: consumer
{{ include "referral-service.releaseLabels" . }}
{{- end }}

{{/* The recommended labels that do not identify the workload (shared with the test pod). */}}
{{- define "referral-service.releaseLabels" -}}
helm.sh/chart: {{ include "referral-service.chart" . }}
app.kubernetes.io/version: {{ include "referral-service.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: {{ .Values.partOf }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* metadata.annotations block content shared by every resource (may be empty). */}}
{{- define "referral-service.annotations" -}}
{{- with .Values.commonAnnotations }}
{{- toYaml . }}
{{- end }}
{{- end }}

{{- define "referral-service.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "referral-service.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "referral-service.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{/* registry/repository:tag, or @digest when a digest is given. */}}
{{- define "referral-service.renderImage" -}}
{{- $repository := .image.repository }}
{{- if .image.registry }}
{{- $repository = printf "%s/%s" .image.registry .image.repository }}
{{- end }}
{{- if .image.digest }}
{{- printf "%s@%s" $repository .image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (toString .tag) }}
{{- end }}
{{- end }}

{{- define "referral-service.image" -}}
{{- include "referral-service.renderImage" (dict "image" .Values.image "tag" (include "referral-service.imageTag" .)) }}
{{- end }}

{{- define "referral-service.testImage" -}}
{{- include "referral-service.renderImage" (dict "image" .Values.tests.image "tag" .Values.tests.image.tag) }}
{{- end }}

{{/* Name of the chart's own (fallback) Secret. */}}
{{- define "referral-service.secretName" -}}
{{- printf "%s-secrets" (include "referral-service.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "referral-service.isPostgresql" -}}
{{- if eq .Values.store.mode "postgresql" }}true{{ end }}
{{- end }}

{{/* "true" when `referrals migrate` runs once per release as a hook Job (PostgreSQL mode). */}}
{{- define "referral-service.migrationJob" -}}
{{- if and (include "referral-service.isPostgresql" .) .Values.store.postgresql.migration.enabled }}true{{ end }}
{{- end }}

{{/*
Labels of the migration Job, its pod and its Secret: not the workload's selector labels, so
the Services, the PDB and the NetworkPolicy never select the Job's pod.
*/}}
{{- define "referral-service.migrationLabels" -}}
app.kubernetes.io/name: {{ printf "%s-migrate" (include "referral-service.name" .) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: migration
{{ include "referral-service.releaseLabels" . }}
{{- end }}

{{/* The Secret and key holding the URL the migration Job connects with. Returns YAML. */}}
{{- define "referral-service.migrationUrlSecret" -}}
{{- $postgresql := .Values.store.postgresql }}
{{- if $postgresql.migration.existingSecret }}
name: {{ $postgresql.migration.existingSecret }}
key: {{ $postgresql.migration.existingSecretKey }}
{{- else if $postgresql.existingSecret }}
name: {{ $postgresql.existingSecret }}
key: {{ $postgresql.existingSecretKey }}
{{- else }}
name: {{ printf "%s-migrate" (include "referral-service.fullname" .) | trunc 63 | trimSuffix "-" }}
key: database-url
{{- end }}
{{- end }}

{{- define "referral-service.saslEnabled" -}}
{{- if has .Values.kafka.securityProtocol (list "SASL_PLAINTEXT" "SASL_SSL") }}true{{ end }}
{{- end }}

{{- define "referral-service.tlsEnabled" -}}
{{- if has .Values.kafka.securityProtocol (list "SSL" "SASL_SSL") }}true{{ end }}
{{- end }}

{{/* The TLS Secret is mounted only when TLS is on and a Secret is named. */}}
{{- define "referral-service.tlsMounted" -}}
{{- $tls := .Values.kafka.tls }}
{{- if and (include "referral-service.tlsEnabled" .) $tls.existingSecret (or $tls.caKey $tls.certKey) }}true{{ end }}
{{- end }}

{{/* Chart Secret keys holding plaintext fallbacks; empty when no Secret is needed. */}}
{{- define "referral-service.secretData" -}}
{{- if and (include "referral-service.isPostgresql" .) (not .Values.store.postgresql.existingSecret) .Values.store.postgresql.url }}
database-url: {{ .Values.store.postgresql.url | b64enc | quote }}
{{- end }}
{{- if and (include "referral-service.saslEnabled" .) (not .Values.kafka.sasl.existingSecret) }}
kafka-sasl-username: {{ .Values.kafka.sasl.username | b64enc | quote }}
kafka-sasl-password: {{ .Values.kafka.sasl.password | b64enc | quote }}
{{- end }}
{{- end }}

{{/* SASL credentials: the user's Secret when given, else the chart's. Returns YAML. */}}
{{- define "referral-service.saslCredentials" -}}
{{- if .Values.kafka.sasl.existingSecret }}
secret: {{ .Values.kafka.sasl.existingSecret }}
usernameKey: {{ .Values.kafka.sasl.usernameKey }}
passwordKey: {{ .Values.kafka.sasl.passwordKey }}
{{- else }}
secret: {{ include "referral-service.secretName" . }}
usernameKey: kafka-sasl-username
passwordKey: kafka-sasl-password
{{- end }}
{{- end }}

{{/* Number of replicas the workload can reach (for the PDB and the NOTES). */}}
{{- define "referral-service.maxReplicas" -}}
{{- if .Values.autoscaling.keda.enabled }}
{{- .Values.autoscaling.keda.maxReplicaCount }}
{{- else if .Values.autoscaling.hpa.enabled }}
{{- .Values.autoscaling.hpa.maxReplicas }}
{{- else }}
{{- .Values.replicaCount }}
{{- end }}
{{- end }}

{{/* PromQL matchers selecting this release's series (the monitors set job=<full name>). */}}
{{- define "referral-service.metricSelector" -}}
{{- default (printf "job=%q,namespace=%q" (include "referral-service.fullname" .) .Release.Namespace) .Values.metrics.prometheusRule.selector }}
{{- end }}

{{/* KEDA's name for a SASL mechanism. */}}
{{- define "referral-service.kedaSasl" -}}
{{- get (dict "PLAIN" "plaintext" "SCRAM-SHA-256" "scram_sha256" "SCRAM-SHA-512" "scram_sha512") .Values.kafka.sasl.mechanism }}
{{- end }}

{{/* Whether KEDA needs a TriggerAuthentication (credentials or TLS files to read). */}}
{{- define "referral-service.kedaNeedsAuth" -}}
{{- if or (include "referral-service.saslEnabled" .) (include "referral-service.tlsMounted" .) }}true{{ end }}
{{- end }}

{{/*
Combinations values.schema.json cannot express. Each failure says what to change.
*/}}
{{/*
Where the read API runs: "separate" (a Deployment of its own running `referrals api`),
"together" (in the consumer pods, on their second port) or "" (not served). api.tier auto
picks separate with PostgreSQL and together with SQLite (one file, one pod).
*/}}
{{- define "referral-service.apiTier" -}}
{{- if .Values.api.enabled }}
{{- if eq .Values.api.tier "auto" }}
{{- ternary "together" "separate" (eq .Values.store.mode "sqlite") }}
{{- else }}
{{- .Values.api.tier }}
{{- end }}
{{- end }}
{{- end }}

{{- define "referral-service.apiTogether" -}}
{{- if eq (include "referral-service.apiTier" .) "together" }}true{{ end }}
{{- end }}

{{- define "referral-service.apiSeparate" -}}
{{- if eq (include "referral-service.apiTier" .) "separate" }}true{{ end }}
{{- end }}

{{/* Name of the read tier's Deployment, HPA, PDB and NetworkPolicy. */}}
{{- define "referral-service.apiFullname" -}}
{{- printf "%s-api" (include "referral-service.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels of the read tier's pods: a name of their own, so the consumer's selector
(immutable once installed), Services, PDB and NetworkPolicy never select them.
*/}}
{{- define "referral-service.apiSelectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-api" (include "referral-service.name" .) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "referral-service.apiLabels" -}}
{{ include "referral-service.apiSelectorLabels" . }}
app.kubernetes.io/component: api
{{ include "referral-service.releaseLabels" . }}
{{- end }}

{{/*
Labels of the read API's Service and Ingress: the app's name (the ServiceMonitor selects
every Service of the release by it), the component serving it.
*/}}
{{- define "referral-service.apiServiceLabels" -}}
{{ include "referral-service.selectorLabels" . }}
app.kubernetes.io/component: {{ ternary "api" "consumer" (eq (include "referral-service.apiTier" .) "separate") }}
{{ include "referral-service.releaseLabels" . }}
{{- end }}

{{/* "true" when the consumer pods serve the read API with API keys from an existing Secret. */}}
{{- define "referral-service.apiKeysMounted" -}}
{{- if and (include "referral-service.apiTogether" .) .Values.api.auth.apiKeys.existingSecret }}true{{ end }}
{{- end }}

{{/* Pod anti-affinity from podAntiAffinityPreset over the pods `selector` (YAML) names. */}}
{{- define "referral-service.affinity" -}}
{{- $values := .root.Values }}
{{- if $values.affinity }}
{{- tpl (toYaml $values.affinity) .root }}
{{- else if eq $values.podAntiAffinityPreset "hard" }}
podAntiAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    - topologyKey: kubernetes.io/hostname
      labelSelector:
        matchLabels:
          {{- .selector | nindent 10 }}
{{- else if $values.podAntiAffinityPreset }}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- .selector | nindent 12 }}
{{- end }}
{{- end }}

{{- define "referral-service.validate" -}}
{{- $v := .Values }}
{{- if not $v.kafka.bootstrapServers }}
{{- fail "kafka.bootstrapServers is required (host:port[,host:port])" }}
{{- end }}
{{- if and $v.autoscaling.hpa.enabled $v.autoscaling.keda.enabled }}
{{- fail "autoscaling.hpa.enabled and autoscaling.keda.enabled are mutually exclusive: both would drive the Deployment's replicas; enable one" }}
{{- end }}
{{- if eq $v.store.mode "sqlite" }}
{{- if gt (int $v.replicaCount) 1 }}
{{- fail (printf "store.mode=sqlite runs exactly one replica (one SQLite writer), but replicaCount=%d; use store.mode=postgresql to scale out" (int $v.replicaCount)) }}
{{- end }}
{{- if or $v.autoscaling.hpa.enabled $v.autoscaling.keda.enabled }}
{{- fail "store.mode=sqlite runs exactly one replica and cannot autoscale; use store.mode=postgresql with autoscaling" }}
{{- end }}
{{- else }}
{{- if not (or $v.store.postgresql.existingSecret $v.store.postgresql.url) }}
{{- fail "store.mode=postgresql needs the database URL: set store.postgresql.existingSecret (preferred) or store.postgresql.url" }}
{{- end }}
{{- end }}
{{- $partitions := int $v.kafka.topics.partitions }}
{{- if and $v.autoscaling.keda.enabled (gt (int $v.autoscaling.keda.maxReplicaCount) $partitions) }}
{{- fail (printf "autoscaling.keda.maxReplicaCount=%d exceeds kafka.topics.partitions=%d: consumers beyond the partition count sit idle" (int $v.autoscaling.keda.maxReplicaCount) $partitions) }}
{{- end }}
{{- if and $v.autoscaling.keda.enabled (gt (int $v.autoscaling.keda.minReplicaCount) (int $v.autoscaling.keda.maxReplicaCount)) }}
{{- fail "autoscaling.keda.minReplicaCount must not exceed autoscaling.keda.maxReplicaCount" }}
{{- end }}
{{- if and $v.autoscaling.hpa.enabled (gt (int $v.autoscaling.hpa.maxReplicas) $partitions) }}
{{- fail (printf "autoscaling.hpa.maxReplicas=%d exceeds kafka.topics.partitions=%d: consumers beyond the partition count sit idle" (int $v.autoscaling.hpa.maxReplicas) $partitions) }}
{{- end }}
{{- if and $v.autoscaling.hpa.enabled (gt (int $v.autoscaling.hpa.minReplicas) (int $v.autoscaling.hpa.maxReplicas)) }}
{{- fail "autoscaling.hpa.minReplicas must not exceed autoscaling.hpa.maxReplicas" }}
{{- end }}
{{- if and $v.autoscaling.hpa.enabled (not (or $v.autoscaling.hpa.targetCPUUtilizationPercentage $v.autoscaling.hpa.targetMemoryUtilizationPercentage)) }}
{{- fail "autoscaling.hpa needs targetCPUUtilizationPercentage or targetMemoryUtilizationPercentage" }}
{{- end }}
{{- if include "referral-service.saslEnabled" . }}
{{- if not $v.kafka.sasl.mechanism }}
{{- fail (printf "kafka.securityProtocol=%s needs kafka.sasl.mechanism (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)" $v.kafka.securityProtocol) }}
{{- end }}
{{- if not (or $v.kafka.sasl.existingSecret (and $v.kafka.sasl.username $v.kafka.sasl.password)) }}
{{- fail "SASL needs credentials: set kafka.sasl.existingSecret (preferred) or kafka.sasl.username and kafka.sasl.password" }}
{{- end }}
{{- end }}
{{- if ne (empty $v.kafka.tls.certKey) (empty $v.kafka.tls.keyKey) }}
{{- fail "kafka.tls.certKey and kafka.tls.keyKey go together (mutual TLS needs both the certificate and its key)" }}
{{- end }}
{{- if and (include "referral-service.tlsEnabled" .) (not $v.kafka.tls.existingSecret) (or $v.kafka.tls.certKey $v.kafka.tls.keyPasswordKey) }}
{{- fail "kafka.tls.certKey/keyPasswordKey name keys of kafka.tls.existingSecret, which is empty" }}
{{- end }}
{{- if and $v.pdb.create (eq (toString $v.pdb.minAvailable) "") (eq (toString $v.pdb.maxUnavailable) "") }}
{{- fail "pdb.create needs pdb.minAvailable or pdb.maxUnavailable" }}
{{- end }}
{{- if and $v.metrics.serviceMonitor.enabled $v.metrics.podMonitor.enabled }}
{{- fail "metrics.serviceMonitor and metrics.podMonitor would scrape every pod twice; enable one" }}
{{- end }}
{{- if $v.api.enabled }}
{{- $jwt := $v.api.auth.jwt }}
{{- $jwtGiven := compact (list $jwt.issuer $jwt.audience $jwt.jwksUrl) }}
{{- if and $jwtGiven (lt (len $jwtGiven) 3) }}
{{- fail "api.auth.jwt needs issuer, audience and jwksUrl together" }}
{{- end }}
{{- if not (or $jwtGiven $v.api.auth.apiKeys.existingSecret) }}
{{- fail "api.enabled needs authentication: api.auth.jwt (issuer, audience, jwksUrl) or api.auth.apiKeys.existingSecret" }}
{{- end }}
{{- if eq (int $v.api.containerPort) (int $v.containerPort) }}
{{- fail "api.containerPort must differ from containerPort (the operations port of /metrics and the probes)" }}
{{- end }}
{{- end }}
{{- if and (eq $v.store.mode "sqlite") (eq $v.api.tier "separate") }}
{{- fail "api.tier=separate needs store.mode=postgresql: one SQLite file cannot be shared across pods, so with SQLite the read API runs in the consumer pod (api.tier=together, or auto)" }}
{{- end }}
{{- if and (include "referral-service.apiSeparate" .) $v.api.autoscaling.enabled (gt (int $v.api.autoscaling.minReplicas) (int $v.api.autoscaling.maxReplicas)) }}
{{- fail "api.autoscaling.minReplicas must not exceed api.autoscaling.maxReplicas" }}
{{- end }}
{{- if and (include "referral-service.apiSeparate" .) $v.api.autoscaling.enabled (not (or $v.api.autoscaling.targetCPUUtilizationPercentage $v.api.autoscaling.targetMemoryUtilizationPercentage)) }}
{{- fail "api.autoscaling needs targetCPUUtilizationPercentage or targetMemoryUtilizationPercentage" }}
{{- end }}
{{- if and (include "referral-service.apiSeparate" .) $v.api.pdb.create (eq (toString $v.api.pdb.minAvailable) "") (eq (toString $v.api.pdb.maxUnavailable) "") }}
{{- fail "api.pdb.create needs api.pdb.minAvailable or api.pdb.maxUnavailable" }}
{{- end }}
{{- if and $v.api.ingress.enabled (not (and $v.api.enabled $v.api.ingress.host)) }}
{{- fail "api.ingress.enabled needs api.enabled and api.ingress.host" }}
{{- end }}
{{- $needed := add (int $v.preStopSleepSeconds) (int $v.config.shutdownTimeoutSeconds) }}
{{- if and (empty $v.lifecycleHooks) (lt (int $v.terminationGracePeriodSeconds) (int $needed)) }}
{{- fail (printf "terminationGracePeriodSeconds=%d is shorter than preStopSleepSeconds + config.shutdownTimeoutSeconds = %d: the pod would be killed before it commits and leaves the consumer group" (int $v.terminationGracePeriodSeconds) (int $needed)) }}
{{- end }}
{{- end }}

{{/* An HTTP probe on the named port from {path, initialDelaySeconds, periodSeconds, ...}. */}}
{{- define "referral-service.httpProbe" -}}
httpGet:
  path: {{ .path }}
  port: http
initialDelaySeconds: {{ .initialDelaySeconds }}
periodSeconds: {{ .periodSeconds }}
timeoutSeconds: {{ .timeoutSeconds }}
failureThreshold: {{ .failureThreshold }}
successThreshold: {{ .successThreshold }}
{{- end }}

{{/* Keys of kafka.tls.existingSecret -> file names under kafka.tls.mountPath. Returns YAML. */}}
{{- define "referral-service.tlsFiles" -}}
{{- with .Values.kafka.tls.caKey }}
{{ . | quote }}: ca.crt
{{- end }}
{{- with .Values.kafka.tls.certKey }}
{{ . | quote }}: client.crt
{{- end }}
{{- with .Values.kafka.tls.keyKey }}
{{ . | quote }}: client.key
{{- end }}
{{- end }}

{{/* Where the secret settings are mounted as files, one per REFERRALS_* variable. */}}
{{- define "referral-service.secretsPath" -}}
/etc/referrals/secrets
{{- end }}

{{/*
Secret settings as files (REFERRALS_SECRETS_DIR): projected volume sources mapping Secret
keys to files named after the variables. Never environment variables, never whole Secrets.
Returns a YAML list; empty when no setting is secret.
*/}}
{{- define "referral-service.secretFiles" -}}
{{- include "referral-service.databaseUrlFile" . }}
{{- if include "referral-service.saslEnabled" . }}
{{- $sasl := include "referral-service.saslCredentials" . | fromYaml }}
- secret:
    name: {{ $sasl.secret }}
    items:
      - key: {{ $sasl.usernameKey }}
        path: REFERRALS_KAFKA_SASL_USERNAME
      - key: {{ $sasl.passwordKey }}
        path: REFERRALS_KAFKA_SASL_PASSWORD
{{- end }}
{{- if and (include "referral-service.tlsMounted" .) .Values.kafka.tls.keyPasswordKey }}
- secret:
    name: {{ .Values.kafka.tls.existingSecret }}
    items:
      - key: {{ .Values.kafka.tls.keyPasswordKey }}
        path: REFERRALS_KAFKA_SSL_KEY_PASSWORD
{{- end }}
{{- with .Values.config.expirySecret.existingSecret }}
- secret:
    name: {{ . }}
    items:
      - key: {{ $.Values.config.expirySecret.existingSecretKey }}
        path: REFERRALS_EXPIRY_SECRET
{{- end }}
{{- end }}

{{/* The database URL as the file REFERRALS_DATABASE_URL (PostgreSQL mode): a projected
volume source, the only secret the read tier's pods mount. */}}
{{- define "referral-service.databaseUrlFile" -}}
{{- if include "referral-service.isPostgresql" . }}
- secret:
    {{- if .Values.store.postgresql.existingSecret }}
    name: {{ .Values.store.postgresql.existingSecret }}
    items:
      - key: {{ .Values.store.postgresql.existingSecretKey }}
        path: REFERRALS_DATABASE_URL
    {{- else }}
    name: {{ include "referral-service.secretName" . }}
    items:
      - key: database-url
        path: REFERRALS_DATABASE_URL
    {{- end }}
{{- end }}
{{- end }}

{{/* REFERRALS_WORKERS: config.workers, else the pod's CPU request rounded up, else 0 (the
service's own default). */}}
{{- define "referral-service.workers" -}}
{{- $configured := int64 .Values.config.workers -}}
{{- $cpu := toString (dig "requests" "cpu" "" (.Values.resources | default dict)) -}}
{{- if gt $configured 0 -}}
{{- $configured -}}
{{- else if not $cpu -}}
0
{{- else if hasSuffix "m" $cpu -}}
{{- max 1 (div (add (int64 (trimSuffix "m" $cpu)) 999) 1000) -}}
{{- else -}}
{{- max 1 (int64 (ceil (float64 $cpu))) -}}
{{- end -}}
{{- end -}}

{{/* NetworkPolicy ingress to the operations port (/metrics, /healthz, /readyz). */}}
{{- define "referral-service.operationsIngress" -}}
{{- $np := .Values.networkPolicy }}
{{- $fullname := include "referral-service.fullname" . }}
# The HTTP port serves only /metrics, /healthz and /readyz.
- ports:
    - port: http
      protocol: TCP
  {{- if not $np.ingress.allowExternal }}
  from:
    - podSelector:
        matchLabels:
          {{ $fullname }}-client: "true"
    {{- $peer := dict }}
    {{- with $np.ingress.namespaceSelector }}
    {{- $_ := set $peer "namespaceSelector" (dict "matchLabels" .) }}
    {{- end }}
    {{- with $np.ingress.podSelector }}
    {{- $_ := set $peer "podSelector" (dict "matchLabels" .) }}
    {{- end }}
    {{- with $peer }}
    - {{ toYaml . | nindent 6 | trim }}
    {{- end }}
  {{- end }}
{{- end }}

{{/* NetworkPolicy ingress to the read API's port; its callers authenticate. */}}
{{- define "referral-service.apiIngress" -}}
- ports:
    - port: api
      protocol: TCP
  {{- with .Values.api.networkPolicyFrom }}
  from:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
