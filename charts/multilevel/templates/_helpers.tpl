{{/* Standard labels on every object of the release. */}}
{{- define "multilevel.labels" -}}
app.kubernetes.io/name: multilevel
app.kubernetes.io/part-of: multilevel
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The image of one step: <registry>/<repository>/<step>:<tag> (no registry: a local image, e.g. on kind). */}}
{{- define "multilevel.image" -}}
{{- $tag := .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- $repo := printf "%s/%s:%s" .root.Values.image.repository .step $tag -}}
{{- if .root.Values.image.registry -}}
{{- printf "%s/%s" .root.Values.image.registry $repo -}}
{{- else -}}
{{- $repo -}}
{{- end -}}
{{- end -}}

{{/*
Overlay one generated workflow spec in place (prints nothing): service account, step images and the names of
the Secrets the steps read. Everything else, including Argo's {{...}} expressions, is left exactly as generated.
*/}}
{{- define "multilevel.overlaySpec" -}}
{{- $root := .root -}}
{{- $_ := set .spec "serviceAccountName" $root.Values.serviceAccount.name -}}
{{- range .spec.templates -}}
{{- if .container -}}
{{- $step := regexReplaceAll "^[^/]+/([a-z0-9-]+):.*$" .container.image "${1}" -}}
{{- $_ := set .container "image" (include "multilevel.image" (dict "root" $root "step" $step)) -}}
{{- range .container.env -}}
{{- if and .valueFrom .valueFrom.secretKeyRef (eq .name "MULTILEVEL_WAREHOUSE_PASSWORD") -}}
{{- $_ := set .valueFrom.secretKeyRef "name" $root.Values.warehouse.existingSecret -}}
{{- $_ := set .valueFrom.secretKeyRef "key" $root.Values.warehouse.passwordKey -}}
{{- end -}}
{{- end -}}
{{- range .container.envFrom -}}
{{- if and .secretRef $root.Values.stage.existingSecret -}}
{{- $_ := set .secretRef "name" $root.Values.stage.existingSecret -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Pod and container security of the laptop-only dev services: Pod Security "restricted", high uid, RO root. */}}
{{- define "multilevel.devPodSecurity" -}}
{runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: {type: RuntimeDefault}}
{{- end -}}
{{- define "multilevel.devContainerSecurity" -}}
{allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: ["ALL"]}}
{{- end -}}
