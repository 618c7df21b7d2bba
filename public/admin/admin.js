/* tandem status page: renders /api/v1/admin/stats every few seconds. */
"use strict";
(function () {
	/*
	 * An absolute URL without user:password@: a page opened as
	 * https://user:pw@host/admin/ cannot fetch relative URLs (they would
	 * inherit the credentials); the browser re-sends the cached basic
	 * auth of the realm instead.
	 */
	var PATH = "/api/v1/admin/stats", PERIOD_MS = 5000,
	    URL = location.protocol + "//" + location.host + PATH;

	function set(id, text) {
		var el = document.getElementById(id);
		if (el)
			el.textContent = text;
	}

	function duration(s) {
		var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600),
		    m = Math.floor(s % 3600 / 60), out = [];
		if (d) out.push(d + "d");
		if (d || h) out.push(h + "h");
		if (d || h || m) out.push(m + "m");
		out.push(s % 60 + "s");
		return out.join(" ");
	}

	function bytes(n) {
		var units = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0, v = n;
		while (v >= 1024 && i < units.length - 1) {
			v /= 1024;
			i++;
		}
		return (i ? v.toFixed(1) + " " + units[i] + " (" + n + " bytes)" :
		    n + " B");
	}

	function render(s) {
		var tbody = document.getElementById("workers"), i, tr, w;

		set("version", s.version);
		set("uptime", duration(s.uptime_s));
		set("db_bytes", bytes(s.db_bytes));
		set("users", s.users);
		set("devices_online", s.devices.online);
		set("devices_total", s.devices.total);
		set("sessions_active", s.sessions.active);
		set("sessions_killed", s.sessions.killed);
		set("messages", s.messages);
		set("records", s.records);
		set("conflicts_open", s.conflicts_open);
		set("longpoll_waiting", s.longpoll_waiting);
		set("requests_per_min", s.requests_per_min);
		set("errors_per_min", s.errors_per_min);
		set("p50", s.latency_ms.p50);
		set("p95", s.latency_ms.p95);
		set("p99", s.latency_ms.p99);
		while (tbody.firstChild)
			tbody.removeChild(tbody.firstChild);
		for (i = 0; i < (s.workers || []).length; i++) {
			w = s.workers[i];
			tr = document.createElement("tr");
			[w.pid, duration(w.uptime_s), w.requests].forEach(
			    function (v) {
				var td = document.createElement("td");
				td.textContent = v;
				tr.appendChild(td);
			});
			tbody.appendChild(tr);
		}
	}

	function status(text, bad) {
		var el = document.getElementById("state");
		el.textContent = text;
		el.className = bad ? "state error" : "state";
	}

	function refresh() {
		fetch(URL, { credentials: "same-origin", cache: "no-store" })
		    .then(function (r) {
			if (!r.ok)
				throw new Error("HTTP " + r.status);
			return r.json();
		}).then(function (s) {
			render(s);
			status("updated " + new Date().toLocaleTimeString(),
			    false);
		}).catch(function (e) {
			status("cannot load " + PATH + ": " + e.message, true);
		}).then(function () {
			setTimeout(refresh, PERIOD_MS);
		});
	}

	refresh();
})();
