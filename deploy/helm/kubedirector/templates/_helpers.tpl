{{/* Labels every object carries; the selector uses only the first two. */}}
{{- define "kubedirector.selectorLabels" -}}
app.kubernetes.io/name: kubedirector
app.kubernetes.io/component: operator
{{- end -}}

{{- define "kubedirector.labels" -}}
{{ include "kubedirector.selectorLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}
