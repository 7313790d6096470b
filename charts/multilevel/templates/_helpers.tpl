{{/* Standard labels on every object of the release. */}}
{{- define "multilevel.labels" -}}
app.kubernetes.io/name: multilevel
app.kubernetes.io/part-of: multilevel
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/*
The name of an object of this release: as generated for the release named "multilevel" (the one the docs use),
prefixed with the release name for any other release, so that two releases in one namespace share nothing.
Call with (dict "root" $ "name" "eurostat-harvest").
*/}}
{{- define "multilevel.name" -}}
{{- if eq .root.Release.Name "multilevel" -}}
{{- .name -}}
{{- else -}}
{{- printf "%s-%s" .root.Release.Name .name -}}
{{- end -}}
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
{{- $_ := set .spec "serviceAccountName" (include "multilevel.name" (dict "root" $root "name" $root.Values.serviceAccount.name)) -}}
{{- range .spec.templates -}}
{{- with .synchronization -}}
{{- range .mutexes -}}
{{- $_ := set . "name" (include "multilevel.name" (dict "root" $root "name" .name)) -}}
{{- end -}}
{{- range .semaphores -}}
{{- with .configMapKeyRef -}}
{{- $_ := set . "name" (include "multilevel.name" (dict "root" $root "name" .name)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- with .dag -}}
{{- range .tasks -}}
{{- with .templateRef -}}
{{- $_ := set . "name" (include "multilevel.name" (dict "root" $root "name" .name)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
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
{{- if .configMapRef -}}
{{- $_ := set .configMapRef "name" (include "multilevel.name" (dict "root" $root "name" .configMapRef.name)) -}}
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
