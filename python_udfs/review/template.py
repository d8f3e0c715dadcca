"""The review page's HTML, CSS and script: one self-contained file, no server, no network.

Kept as a Python string so it ships inside the package with no package-data setup. Jinja2 renders it
with autoescaping on: every value from the database (names, messages, reasons) is escaped.
The script only adds sorting and searching; with scripts disabled the page reads the same.
"""

from __future__ import annotations

__all__ = ["PAGE_TEMPLATE", "SCRIPT", "STYLE"]

STYLE = """
:root { --ok: #15803d; --rejected: #b45309; --error: #b91c1c; --no-message: #6b7280;
  --line: #d4d4d8; --muted: #52525b; --stripe: #f4f4f5; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1200px; padding: 1.5rem; color: #18181b; background: #fff;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
h1 { margin: 0 0 .25rem; font-size: 1.6rem; }
h2 { margin: 2.2rem 0 .6rem; font-size: 1.25rem; border-bottom: 2px solid var(--line);
  padding-bottom: .2rem; }
h3 { margin: 1.4rem 0 .4rem; font-size: 1.05rem; }
p.meta, p.note, caption { color: var(--muted); margin: .2rem 0 .6rem; }
caption { text-align: left; }
.scroll { overflow-x: auto; }
#ledger-table td { white-space: nowrap; }
nav a { margin-right: 1rem; }
.cards { display: flex; flex-wrap: wrap; gap: .6rem; margin: 1rem 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: .5rem .9rem; min-width: 8.5rem; }
.card b { display: block; font-size: 1.5rem; }
.card.ok b { color: var(--ok); } .card.rejected b { color: var(--rejected); }
.card.error b { color: var(--error); } .card.no-message b { color: var(--no-message); }
.rounds { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 1rem; }
.round { border: 1px solid var(--line); border-radius: 6px; padding: .2rem 1rem 1rem; }
.legend span { margin-right: 1rem; white-space: nowrap; }
.swatch { display: inline-block; width: .8rem; height: .8rem; border-radius: 2px; margin-right: .3rem;
  vertical-align: -1px; }
svg { display: block; max-width: 100%; height: auto; margin: .4rem 0; }
svg text { font: 13px system-ui, sans-serif; fill: #18181b; }
table { border-collapse: collapse; width: 100%; margin: .4rem 0 1rem; }
th, td { text-align: left; vertical-align: top; padding: .3rem .5rem; border-bottom: 1px solid var(--line); }
th { background: #e4e4e7; position: sticky; top: 0; white-space: nowrap; }
th button { font: inherit; font-weight: 600; background: none; border: 0; padding: 0; cursor: pointer; }
th[aria-sort="ascending"] button::after { content: " \\25B2"; }
th[aria-sort="descending"] button::after { content: " \\25BC"; }
tbody tr:nth-child(even) { background: var(--stripe); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.message { min-width: 22rem; }
.status { display: inline-block; padding: 0 .45rem; border-radius: 999px; color: #fff; font-size: .85em; }
.status-ok { background: var(--ok); } .status-rejected { background: var(--rejected); }
.status-error { background: var(--error); } .status-no-message { background: var(--no-message); }
input[type=search] { font: inherit; padding: .35rem .6rem; width: min(28rem, 100%); margin: .3rem 0; }
.shown { color: var(--muted); margin-left: .6rem; }
@media print { input[type=search], nav { display: none; } th { position: static; } }
"""

SCRIPT = """
(function () {
  "use strict";
  var each = function (list, action) { Array.prototype.forEach.call(list, action); };

  function sortKey(row, index, numeric) {
    var text = row.cells[index].textContent.trim();
    if (!numeric) { return text.toLocaleLowerCase(); }
    var number = parseFloat(text.replace(/,/g, ""));
    return isNaN(number) ? -Infinity : number;
  }

  function sortTable(table, index, descending) {
    var header = table.tHead.rows[0].cells[index];
    var numeric = header.getAttribute("data-type") === "number";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = sortKey(a, index, numeric), y = sortKey(b, index, numeric);
      var order = numeric ? (x > y) - (x < y) : String(x).localeCompare(String(y));
      return descending ? -order : order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    each(table.tHead.rows[0].cells, function (cell) { cell.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }

  function filterTable(table, query) {
    var needle = query.trim().toLocaleLowerCase();
    var shown = 0;
    each(table.tBodies[0].rows, function (row) {
      var match = needle === "" || row.textContent.toLocaleLowerCase().indexOf(needle) !== -1;
      row.hidden = !match;
      shown += match ? 1 : 0;
    });
    var counter = document.querySelector('[data-shown-for="' + table.id + '"]');
    if (counter) { counter.textContent = shown.toLocaleString("en") + " shown"; }
  }

  each(document.querySelectorAll("table.sortable"), function (table) {
    each(table.tHead.rows[0].cells, function (cell, index) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = cell.textContent;
      button.addEventListener("click", function () {
        sortTable(table, index, cell.getAttribute("aria-sort") === "ascending");
      });
      cell.textContent = "";
      cell.appendChild(button);
    });
  });

  each(document.querySelectorAll("input[data-filter]"), function (input) {
    var table = document.getElementById(input.getAttribute("data-filter"));
    input.hidden = false;
    input.addEventListener("input", function () { filterTable(table, input.value); });
  });

  // A link can open the messages table searched and sorted: campaign_review.html#q=ana&sort=-round
  var params = new URLSearchParams(window.location.hash.slice(1));
  var messages = document.getElementById("messages-table");
  if (messages && params.get("sort")) {
    var key = params.get("sort").replace(/^-/, "");
    each(messages.tHead.rows[0].cells, function (cell, index) {
      if (cell.getAttribute("data-key") === key) {
        sortTable(messages, index, params.get("sort").charAt(0) === "-");
      }
    });
  }
  if (messages && params.get("q")) {
    var search = document.querySelector('input[data-filter="messages-table"]');
    search.value = params.get("q");
    filterTable(messages, search.value);
  }
  document.documentElement.setAttribute("data-enhanced", "true");
})();
"""

PAGE_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Campaign review: {{ data.database.name }}</title>
<style>{{ style }}</style>
</head>
<body>
<header>
<h1>Campaign review</h1>
<p class="meta">{{ data.database.name }} · written {{ data.generated_at.strftime("%Y-%m-%d %H:%M UTC") }} ·
{{ data.message_total | num }} generated messages for {{ data.clients | num }} clients</p>
<nav>
<a href="#summary">Summary</a>
<a href="#rounds">By campaign and round</a>
{% if data.rejected_client_rows is not none -%}
<a href="#client-file-rows">Client-file rows set aside</a>
{% endif -%}
<a href="#gaps">Clients without an ok message</a>
<a href="#ledger">Run ledger</a>
<a href="#messages">Messages</a>
</nav>
</header>

<main>
<section id="summary">
<h2>Summary</h2>
<div class="cards">
{%- for status in statuses %}
<div class="card {{ status.css }}" data-total="{{ status.key }}">
<b>{{ totals[status.key] | num }}</b>{{ status.label }}</div>
{%- endfor %}
<div class="card" data-total="clients_without_ok">
<b>{{ data.clients_without_ok | num }}</b>clients with no ok message at all</div>
</div>
<table id="summary-table">
<caption>Generated messages by campaign, round and status. “No message”: a client of
<code>clients</code> with no row for that round.</caption>
<thead><tr><th>campaign</th><th class="num">round</th>
{%- for status in statuses %}<th class="num">{{ status.label }}</th>{% endfor %}
<th class="num">total</th></tr></thead>
<tbody>
{%- for row in data.rounds %}
<tr data-campaign="{{ row.campaign_id }}" data-round="{{ row.round }}">
<td>{{ row.campaign_id }}</td><td class="num">{{ row.round }}</td>
{%- for status in statuses %}
<td class="num" data-status="{{ status.key }}">{{ row[status.key] | num }}</td>
{%- endfor %}
<td class="num">{{ row.total | num }}</td></tr>
{%- else %}
<tr><td colspan="{{ statuses | length + 3 }}">No generated messages yet.</td></tr>
{%- endfor %}
</tbody>
</table>
</section>

<section id="rounds">
<h2>By campaign and round</h2>
<p class="legend">
{%- for status in statuses %}
<span><span class="swatch" style="background: {{ status.color }}"></span>{{ status.label }}</span>
{%- endfor %}
</p>
<div class="rounds">
{%- for panel in panels %}
<article class="round" id="round-{{ panel.row.campaign_id }}-{{ panel.row.round }}"
 data-campaign="{{ panel.row.campaign_id }}" data-round="{{ panel.row.round }}">
<h3>{{ panel.row.campaign_id }} · round {{ panel.row.round }}</h3>
<svg class="status-bar" viewBox="0 0 {{ chart_width }} 26" width="{{ chart_width }}" height="26"
 role="img" aria-label="messages by status">
{%- for segment in panel.segments %}
<rect x="{{ segment.x }}" y="0" width="{{ segment.width }}" height="26" fill="{{ segment.color }}">
<title>{{ segment.label }}: {{ segment.count | num }}</title></rect>
{%- endfor %}
</svg>
<p class="note">
{%- for status in statuses %}
{{ status.label }} {{ panel.row[status.key] | num }}{% if not loop.last %} ·{% endif %}
{%- endfor %}</p>
{%- if panel.bars %}
<svg class="reasons" viewBox="0 0 {{ chart_width }} {{ panel.height }}" width="{{ chart_width }}"
 height="{{ panel.height }}" role="img" aria-label="why messages were rejected or failed">
{%- for bar in panel.bars %}
<g class="bar" data-status="{{ bar.status }}" data-reason="{{ bar.reason }}" data-count="{{ bar.count }}">
<title>{{ bar.status }}: {{ bar.reason }}: {{ bar.count | num }}</title>
<text x="{{ label_width - 8 }}" y="{{ bar.y + 15 }}" text-anchor="end">{{ bar.reason }}</text>
<rect x="{{ label_width }}" y="{{ bar.y + 3 }}" width="{{ bar.width }}" height="16" fill="{{ bar.color }}"/>
<text x="{{ label_width + bar.width + 6 }}" y="{{ bar.y + 15 }}">{{ bar.count | num }} {{ bar.status }}</text>
</g>
{%- endfor %}
</svg>
{%- else %}
<p class="note">No rejected or failed messages in this round.</p>
{%- endif %}
</article>
{%- endfor %}
</div>
</section>
{% if data.rejected_client_rows is not none %}
<section id="client-file-rows">
<h2>Client-file rows set aside</h2>
<p class="note">Rows of the client files that were not loaded (<code>rejected_client_rows</code>).</p>
<table id="client-file-rows-table">
<thead><tr><th>reason</th><th class="num">rows</th></tr></thead>
<tbody>
{%- for count in data.rejected_client_rows %}
<tr><td>{{ count.reason if count.reason is not none else "all reasons" }}</td>
<td class="num">{{ count.rows | num }}</td></tr>
{%- endfor %}
</tbody>
</table>
</section>
{% endif %}
<section id="gaps">
<h2>Clients without an ok message</h2>
<p class="note">{{ data.gap_total | num }} client-campaign-rounds without a sendable message, for
{{ data.clients_with_gaps | num }} clients
{%- if data.gaps | length < data.gap_total %}; the first {{ data.gaps | length | num }} are listed
{%- endif %}.</p>
{%- if data.gaps %}
<input type="search" hidden placeholder="Search these clients" data-filter="gaps-table"
 aria-label="Search clients without an ok message"><span class="shown" data-shown-for="gaps-table"></span>
<table id="gaps-table" class="sortable">
<thead><tr>
<th class="num" data-type="number">client</th><th>first name</th><th>CPF (masked)</th><th>campaign</th>
<th class="num" data-type="number">round</th><th>status</th><th>reason</th>
</tr></thead>
<tbody>
{%- for gap in data.gaps %}
<tr><td class="num">{{ gap.client_id }}</td><td>{{ gap.first_name or "" }}</td>
<td>{{ gap.cpf_masked or "" }}</td><td>{{ gap.campaign_id }}</td><td class="num">{{ gap.round }}</td>
<td><span class="status status-{{ gap.status | replace(" ", "-") }}">{{ gap.status }}</span></td>
<td>{{ gap.error_reason or "" }}</td></tr>
{%- endfor %}
</tbody>
</table>
{%- endif %}
</section>

<section id="ledger">
<h2>Run ledger</h2>
{%- if data.ledger is none %}
<p class="note">No <code>generation_runs</code> table in this database yet.</p>
{%- else %}
<p class="note">One row per generation run, newest first
{%- if data.ledger.rows | length < data.ledger.total %}
 (the last {{ data.ledger.rows | length }} of {{ data.ledger.total | num }})
{%- endif %}. “Cache hits” are rows served from the answer cache, with no model call.</p>
<div class="scroll">
<table id="ledger-table" class="sortable">
<thead><tr>
{%- for column in ledger_columns %}
<th data-key="{{ column.name }}"{% if column.numeric %} class="num" data-type="number"{% endif %}>
{{- column.label }}</th>
{%- endfor %}
</tr></thead>
<tbody>
{%- for cells in ledger_rows %}
<tr>
{%- for cell in cells %}
<td data-key="{{ cell.key }}"{% if cell.numeric %} class="num"{% endif %}
{%- if cell.title %} title="{{ cell.title }}"{% endif %}>{{ cell.text }}</td>
{%- endfor %}
</tr>
{%- endfor %}
</tbody>
</table>
</div>
{%- endif %}
</section>

<section id="messages">
<h2>Messages</h2>
<p class="note">Every generated message, client by client
{%- if data.messages | length < data.message_total %}: the first {{ data.messages | length | num }}
of {{ data.message_total | num }} (<code>marketing-review --max-rows N</code> for more, or query
<code>marketing_messages</code>)
{%- endif %}. The welcome message is the same template for every client and is not listed.
Click a column to sort.</p>
<input type="search" hidden placeholder="Search name, campaign, message, status, reason"
 data-filter="messages-table" aria-label="Search messages">
<span class="shown" data-shown-for="messages-table"></span>
<table id="messages-table" class="sortable">
<thead><tr>
<th class="num" data-type="number" data-key="client_id">client</th><th data-key="first_name">first name</th>
<th data-key="cpf_masked">CPF (masked)</th><th data-key="campaign_id">campaign</th>
<th class="num" data-type="number" data-key="round">round</th><th data-key="message">message</th>
<th data-key="status">status</th><th data-key="reason">reason</th>
</tr></thead>
<tbody>
{%- for row in data.messages %}
<tr data-status="{{ row.status }}">
<td class="num">{{ row.client_id }}</td><td>{{ row.first_name or "" }}</td>
<td>{{ row.cpf_masked or "" }}</td><td>{{ row.campaign_id }}</td><td class="num">{{ row.round }}</td>
<td class="message">{{ row.message or "" }}</td>
<td><span class="status status-{{ row.status }}">{{ row.status }}</span></td>
<td>{{ row.error_reason or "" }}</td>
</tr>
{%- endfor %}
</tbody>
</table>
</section>
</main>
<script>{{ script }}</script>
</body>
</html>
"""
