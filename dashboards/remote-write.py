#!/usr/bin/env python3
"""Writes stampede-remote-write.json: a Grafana dashboard over the series that
`--out prometheus-rw=URL` pushes (native histograms). Run it after changing
the panels: python3 dashboards/remote-write.py"""

import json
import os

DS = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'testid="$testid",scenario=~"$scenario",name=~"$name"'
RUN = 'testid="$testid"'

panels = []
next_id = [1]


def panel(kind, title, desc, exprs, x, y, w, h, unit="none", legend=None, extra=None):
    pid = next_id[0]
    next_id[0] += 1
    targets = []
    for i, e in enumerate(exprs):
        expr, fmt = e if isinstance(e, tuple) else (e, legend or "")
        targets.append(
            {
                "datasource": DS,
                "expr": expr,
                "legendFormat": fmt,
                "refId": chr(ord("A") + i),
                "range": kind != "stat",
                "instant": kind == "stat",
            }
        )
    p = {
        "type": kind,
        "title": title,
        "id": pid,
        "datasource": DS,
        "description": desc,
        "gridPos": {"h": h, "w": w, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
        "targets": targets,
    }
    if kind == "stat":
        p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}, "colorMode": "value", "graphMode": "none"}
    if extra:
        p.update(extra)
    panels.append(p)


panel("stat", "Requests", "HTTP requests of the run (the last value is the total).",
      [f"sum(stampede_http_reqs_total{{{RUN}}})"], 0, 0, 4, 4)
panel("stat", "Failed", "Share of failed requests over the run (k6 http_req_failed).",
      [f"sum(stampede_http_req_failed_total{{{RUN}}}) / sum(stampede_http_reqs_total{{{RUN}}})"], 4, 0, 4, 4, unit="percentunit")
panel("stat", "p95 over the run", "95th percentile of http_req_duration over the whole run, from the native histogram (within its bucket width, 2.19 % at schema 5).",
      [f"histogram_quantile(0.95, sum(stampede_http_req_duration_seconds{{{RUN}}}))"], 8, 0, 4, 4, unit="s")
panel("stat", "p99 over the run", "99th percentile of http_req_duration over the whole run.",
      [f"histogram_quantile(0.99, sum(stampede_http_req_duration_seconds{{{RUN}}}))"], 12, 0, 4, 4, unit="s")
panel("stat", "Iterations", "Completed iterations of the run.",
      [f"sum(stampede_iterations_total{{{RUN}}})"], 16, 0, 4, 4)
panel("stat", "Checks passed", "Share of check evaluations that passed (k6 checks).",
      [f'sum(stampede_checks_total{{{RUN},result="pass"}}) / sum(stampede_checks_total{{{RUN}}})'], 20, 0, 4, 4, unit="percentunit")

panel("timeseries", "Requests per second by name", "Rate of http_reqs, by request name.",
      [f"sum by (name) (rate(stampede_http_reqs_total{{{SEL}}}[$__rate_interval]))"], 0, 4, 12, 8, unit="reqps", legend="{{name}}")
panel("timeseries", "Latency quantiles", "http_req_duration quantiles over the rate window, from the native histograms of every selected series merged.",
      [(f"histogram_quantile({q}, sum(rate(stampede_http_req_duration_seconds{{{SEL}}}[$__rate_interval])))", f"p{label}")
       for q, label in [(0.5, "50"), (0.95, "95"), (0.99, "99")]], 12, 4, 12, 8, unit="s")
panel("timeseries", "p95 by request name", "95th percentile of http_req_duration over the rate window, by request name.",
      [f"histogram_quantile(0.95, sum by (name) (rate(stampede_http_req_duration_seconds{{{SEL}}}[$__rate_interval])))"], 0, 12, 12, 8, unit="s", legend="{{name}}")
panel("heatmap", "Latency distribution", "Requests per second by http_req_duration bucket (native histogram).",
      [f"sum(rate(stampede_http_req_duration_seconds{{{SEL}}}[$__rate_interval]))"], 12, 12, 12, 8, unit="s",
      extra={"options": {"calculate": False, "yAxis": {"unit": "s"}, "color": {"scheme": "Oranges", "mode": "scheme"}, "cellGap": 0}})
panel("timeseries", "Time to first byte p95 by name", "95th percentile of http_req_waiting, by request name.",
      [f"histogram_quantile(0.95, sum by (name) (rate(stampede_http_req_waiting_seconds{{{SEL}}}[$__rate_interval])))"], 0, 20, 12, 8, unit="s", legend="{{name}}")
panel("timeseries", "Errors by kind", "Failed requests per second by error kind.",
      [f"sum by (kind) (rate(stampede_http_req_errors_total{{{SEL}}}[$__rate_interval]))"], 12, 20, 12, 8, unit="reqps", legend="{{kind}}")
panel("timeseries", "Virtual users", "VUs running, by scenario.",
      [f"sum by (scenario) (stampede_vus{{{RUN},scenario=~\"$scenario\"}})"], 0, 28, 8, 8, legend="{{scenario}}")
panel("timeseries", "Iterations per second", "Completed iterations per second, by scenario.",
      [f"sum by (scenario) (rate(stampede_iterations_total{{{RUN},scenario=~\"$scenario\"}}[$__rate_interval]))"], 8, 28, 8, 8, unit="ops", legend="{{scenario}}")
panel("timeseries", "Check failures per second", "Failed check evaluations per second, by check.",
      [f'sum by (check) (rate(stampede_checks_total{{{RUN},result="fail"}}[$__rate_interval])) or sum by (check) (rate(stampede_checks_total{{{RUN}}}[$__rate_interval])) * 0'], 16, 28, 8, 8, unit="ops", legend="{{check}}")
panel("timeseries", "CDN hit ratio", "Share of responses the CDN answered from its cache (only for responses with a cache header).",
      [f'sum(rate(stampede_cdn_responses_total{{{SEL},cache="hit"}}[$__rate_interval])) / sum(rate(stampede_cdn_responses_total{{{SEL},cache=~"hit|miss"}}[$__rate_interval]))'], 0, 36, 12, 8, unit="percentunit")
panel("timeseries", "Data", "Bytes per second received and sent.",
      [(f"sum(rate(stampede_data_received_total{{{SEL}}}[$__rate_interval]))", "received"),
       (f"sum(rate(stampede_data_sent_total{{{SEL}}}[$__rate_interval]))", "sent")], 12, 36, 12, 8, unit="Bps")


def var(name, label, query):
    return {
        "name": name, "label": label, "type": "query", "datasource": DS,
        "definition": query, "query": {"query": query, "refId": "StandardVariableQuery"},
        "includeAll": name != "testid", "allValue": ".*" if name != "testid" else None,
        "multi": name != "testid", "current": {}, "hide": 0, "options": [], "refresh": 2, "regex": "", "sort": 2 if name == "testid" else 1,
    }


dashboard = {
    "__requires": [
        {"type": "grafana", "id": "grafana", "name": "Grafana", "version": "10.0.0"},
        {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
    ],
    "annotations": {"list": []},
    "description": "Stampede runs pushed with --out prometheus-rw=URL: native histograms of every trend, one testid per run.",
    "editable": True,
    "graphTooltip": 1,
    "id": None,
    "links": [],
    "liveNow": False,
    "panels": panels,
    "refresh": "5s",
    "schemaVersion": 38,
    "tags": ["stampede", "load-testing", "native-histograms"],
    "templating": {"list": [
        {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus", "current": {}, "hide": 0,
         "includeAll": False, "multi": False, "options": [], "refresh": 1, "regex": ""},
        var("testid", "Run (testid)", "label_values(stampede_http_reqs_total, testid)"),
        var("scenario", "Scenario", 'label_values(stampede_http_reqs_total{testid="$testid"}, scenario)'),
        var("name", "Request name", 'label_values(stampede_http_reqs_total{testid="$testid"}, name)'),
    ]},
    "time": {"from": "now-30m", "to": "now"},
    "timepicker": {},
    "timezone": "",
    "title": "Stampede (remote write)",
    "uid": "stampede-remote-write",
    "version": 1,
    "weekStart": "",
}
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stampede-remote-write.json")
with open(out, "w") as f:
    json.dump(dashboard, f, indent=2)
    f.write("\n")
print(out)
