{{/*
Names. The release `stampede` gives stampede-coordinator, stampede-agent,
stampede-shop, … (the names of deploy/k8s/); any other release name is
prefixed: RELEASE-stampede-coordinator.
*/}}
{{- define "stampede.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object; selectors use the selector labels only. */}}
{{- define "stampede.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "stampede.labels" -}}
{{ include "stampede.selectorLabels" . }}
app.kubernetes.io/part-of: stampede
{{- end -}}

{{- define "stampede.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "stampede.tokenSecret" -}}
{{ .Values.token.secretName | default (printf "%s-token" (include "stampede.fullname" .)) }}
{{- end -}}

{{- define "stampede.scenarioConfigMap" -}}
{{ .Values.scenario.existingConfigMap | default (printf "%s-scenario" (include "stampede.fullname" .)) }}
{{- end -}}

{{- define "stampede.shopHost" -}}
{{ include "stampede.fullname" . }}-shop
{{- end -}}

{{/*
The image's user, no privileges: the Pod Security Standard "restricted".
The image is FROM scratch with no shell, and every pod writes only to its
emptyDir /tmp (and the coordinator to /results).
*/}}
{{- define "stampede.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "stampede.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* nodeSelector, tolerations and affinity of one component's values. */}}
{{- define "stampede.placement" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* What both Jobs share: how long they may run, and how long they stay. */}}
{{- define "stampede.jobLimits" -}}
{{- with .Values.activeDeadlineSeconds }}
activeDeadlineSeconds: {{ . | int64 }}
{{- end }}
{{- if not (kindIs "invalid" .Values.ttlSecondsAfterFinished) }}
ttlSecondsAfterFinished: {{ .Values.ttlSecondsAfterFinished | int }}
{{- end }}
{{- end -}}
