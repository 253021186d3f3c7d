{{/* Release-scoped name of a component, e.g. "myrel-skill-draft". */}}
{{- define "sarai.name" -}}
{{- printf "%s-%s" .root.Release.Name .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sarai.selectorLabels" -}}
app.kubernetes.io/name: sarai
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "sarai.labels" -}}
{{ include "sarai.selectorLabels" . }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{/* Image reference: [registry/]repository(@digest|:tag). */}}
{{- define "sarai.image" -}}
{{- $prefix := ternary "" (printf "%s/" (trimSuffix "/" .root.Values.image.registry)) (empty .root.Values.image.registry) -}}
{{- if .image.digest -}}
{{- printf "%s%s@%s" $prefix .image.repository .image.digest -}}
{{- else -}}
{{- printf "%s%s:%s" $prefix .image.repository (required (printf "%s: image.tag or image.digest is required" .name) .image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "sarai.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
fsGroup: 1000
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "sarai.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "sarai.keysSecret" -}}
{{- default (printf "%s-keys" .Release.Name) .Values.keys.existingSecret -}}
{{- end -}}

{{- define "sarai.pullSecrets" -}}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Headless-service address of a skill for dns:/// round_robin clients. */}}
{{- define "sarai.skillAddress" -}}
{{- printf "dns:///%s.%s.svc.cluster.local:50051" (include "sarai.name" .) .root.Release.Namespace -}}
{{- end -}}
