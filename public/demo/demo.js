// tandem notes: a small page built on /sdk/tandem.js.  Every edit goes to
// the client's local copy at once; the client queues, pushes, pulls and
// reports conflicts.  Nothing here speaks HTTP itself.
import { Tandem } from "/sdk/tandem.js";

const $ = (sel) => document.querySelector(sel);
const el = (tag, props = {}, ...children) => {
	const e = Object.assign(document.createElement(tag), props);
	e.append(...children);
	return e;
};

const t = new Tandem({ device: { platform: "web" } });
const notes = t.collection("notes");
const conflicts = new Map();	/* id -> the conflict object */
window.tandem = t;		/* for the console (and the browser tests) */

/* ---- header: connection and queue ---- */

function showStatus(s) {
	const c = $("#conn");
	c.dataset.state = s;
	c.textContent = s;
}

function showPending() {
	const p = $("#pending");
	const n = t.pending;
	p.textContent = n ? `${n} queued` : "all synced";
	p.classList.toggle("queued", n > 0);
}

/* ---- notes ---- */

const newId = () => `n-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

function noteItem(id) {
	const title = el("input", { className: "title", placeholder: "Title", maxLength: 200 });
	const body = el("textarea", { className: "body", rows: 2, placeholder: "Note" });
	const save = () => {
		const cur = notes.get(id);
		if (!cur || (cur.title === title.value && cur.body === body.value))
			return;
		notes.put(id, { ...cur, title: title.value, body: body.value }).then(renderNotes, showError);
	};
	title.addEventListener("change", save);
	body.addEventListener("change", save);
	const del = el("button", { className: "danger delete", type: "button", textContent: "Delete" });
	del.addEventListener("click", () => notes.delete(id).then(renderNotes, showError));
	const meta = el("div", { className: "meta" }, el("span", { className: "state" }), del);
	return el("li", { className: "note", id: `note-${id}` }, title, body, meta);
}

function renderNotes() {
	const list = $("#notes");
	const all = notes.all().sort((a, b) => (a.data.created_at ?? 0) - (b.data.created_at ?? 0));
	const keep = new Set(all.map((r) => `note-${r.id}`));
	for (const li of [...list.children])
		if (!keep.has(li.id))
			li.remove();
	for (const r of all) {
		let li = document.getElementById(`note-${r.id}`);
		if (!li)
			li = noteItem(r.id);
		list.append(li);	/* moves it into order */
		const [title, body] = [li.querySelector(".title"), li.querySelector(".body")];
		if (document.activeElement !== title)
			title.value = r.data.title ?? "";
		if (document.activeElement !== body)
			body.value = r.data.body ?? "";
		const queued = pendingIds().has(r.id);
		li.classList.toggle("queued", queued);
		li.querySelector(".state").textContent = queued ? "queued" : "synced";
	}
	$("#notes-empty").hidden = all.length > 0;
	showPending();
}

/* the records whose local copy is ahead of what the server acknowledged */
function pendingIds() {
	return new Set(t.queued("notes"));
}

/* ---- conflicts, side by side ---- */

const pretty = (v) => JSON.stringify(v, null, 2);

function renderConflicts() {
	const box = $("#conflicts");
	box.replaceChildren();
	for (const c of conflicts.values()) {
		const side = (heading, data, resolution, cls) => {
			const keep = el("button", { type: "button", className: `secondary ${cls}`, textContent: "Keep this one" });
			keep.addEventListener("click", () => settle(c, resolution));
			const shown = data === null ? el("p", { className: "quiet", textContent: "(deleted)" })
				: el("div", {}, el("strong", { textContent: data.title ?? "" }),
					el("pre", { textContent: data.body ?? "" }));
			return el("div", { className: "side" }, el("h4", { textContent: heading }), shown, keep);
		};
		const edit = el("textarea", { rows: 5, value: pretty(c.client.data ?? c.server.data ?? {}) });
		const merge = el("button", { type: "button", className: "merge", textContent: "Save the merge" });
		merge.addEventListener("click", () => {
			let data;
			try {
				data = JSON.parse(edit.value);
			} catch {
				return showError(new Error("the merge is not valid JSON"));
			}
			settle(c, "merged", data);
		});
		const who = deviceNames.get(c.device_id) ?? c.device_id;
		box.append(el("div", { className: "conflict", id: `conflict-${c.id}` },
			el("h3", { textContent: `Conflict on “${c.server.data?.title ?? c.client.data?.title ?? c.record_id}”` }),
			el("div", { className: "sides" },
				side(`The edit from ${who}`, c.client.data, "client", "keep-client"),
				side("The version stored on the server", c.server.data, "server", "keep-server")),
			el("div", { className: "merge-box" }, el("label", { textContent: "Or merge them by hand:" }), edit, merge)));
	}
}

async function settle(c, resolution, data) {
	try {
		await t.resolve(c.id, resolution, data);
		conflicts.delete(c.id);
		renderConflicts();
		renderNotes();
	} catch (e) {
		if (e.code === "ALREADY_RESOLVED") {
			conflicts.delete(c.id);
			renderConflicts();
		}
		showError(e);
	}
}

/* ---- devices ---- */

const deviceNames = new Map();

async function renderDevices() {
	let list;
	try {
		list = await t.devices();
	} catch {
		return;	/* offline: keep the last list */
	}
	const ul = $("#devices");
	ul.replaceChildren(...list.map((d) => {
		deviceNames.set(d.id, d.name);
		return el("li", { className: d.online ? "online" : "", title: d.online ? "online" : "not seen lately" },
			el("span", { textContent: d.name }), el("span", { className: "platform", textContent: d.platform }),
			d.current ? el("span", { className: "me", textContent: "this device" }) : "");
	}));
}

/* ---- linking by code (degrades when the server lacks the routes) ---- */

function linkUnavailable(e) {
	return e.status === 404 && (e.code === "NOT_FOUND" || e.code === "HTTP_404");
}

$("#approve-form").addEventListener("submit", async (ev) => {
	ev.preventDefault();
	const out = $("#approve-out");
	try {
		const l = await t.approveLink($("#approve-code").value);
		out.textContent = `Approved: ${l.device?.name ?? "the new device"} is signed in.`;
		$("#approve-code").value = "";
		renderDevices();
	} catch (e) {
		out.textContent = linkUnavailable(e) ? "This server cannot link devices by code yet."
			: e.code === "LINK_NOT_FOUND" ? "No such code (or it expired)." : e.message;
	}
});

$("#link-start").addEventListener("click", async () => {
	const out = $("#link-new-out");
	$("#link-start").disabled = true;
	try {
		const link = await t.link();
		out.replaceChildren("On a signed-in device, approve this code:", el("div", { className: "code", textContent: link.code }));
		await link.approved;
		enterApp();
	} catch (e) {
		out.textContent = linkUnavailable(e) ? "This server cannot link devices by code yet: sign in with your password."
			: e.code === "LINK_DENIED" ? "The code was denied." : e.code === "LINK_EXPIRED" ? "The code expired." : e.message;
	} finally {
		$("#link-start").disabled = false;
	}
});

/* ---- sign in, the app ---- */

function showError(e) {
	console.warn("tandem notes:", e);
	const box = t.signedIn ? null : $("#signin-error");
	if (box)
		box.textContent = e.message;
}

function enterApp() {
	$("#signin").hidden = true;
	$("#app").hidden = false;
	$("#logout").hidden = false;
	$("#who").textContent = t.device?.name ?? "";
	$("#who").title = t.user?.email ?? "";
	t.start();
	renderNotes();
	renderDevices();
}

function leaveApp(why) {
	$("#app").hidden = true;
	$("#logout").hidden = true;
	$("#signin").hidden = false;
	$("#who").textContent = "";
	$("#signin-error").textContent = why ?? "";
}

async function signIn(register) {
	const email = $("#email").value, password = $("#password").value;
	const name = $("#device-name").value.trim() || "Browser";
	$("#signin-error").textContent = "";
	try {
		if (register)
			await t.register(email, password, { name });
		else
			await t.login(email, password, { name });
		enterApp();
	} catch (e) {
		$("#signin-error").textContent = e.code === "INVALID_CREDENTIALS" ? "Wrong email or password."
			: e.code === "EMAIL_TAKEN" ? "That email has an account: sign in."
			: e.code === "NETWORK" ? "The server cannot be reached." : e.message;
	}
}

$("#signin-form").addEventListener("submit", (ev) => {
	ev.preventDefault();
	signIn(false);
});
$("#register").addEventListener("click", () => {
	if ($("#signin-form").reportValidity())
		signIn(true);
});
$("#logout").addEventListener("click", () => t.logout().catch(() => {}).then(() => leaveApp()));

$("#new-note").addEventListener("submit", (ev) => {
	ev.preventDefault();
	const title = $("#new-title").value.trim(), body = $("#new-body").value;
	if (!title && !body)
		return;
	notes.put(newId(), { title, body, created_at: Date.now() }).then(renderNotes, showError);
	$("#new-title").value = "";
	$("#new-body").value = "";
	$("#new-title").focus();
});

t.on("status", showStatus);
t.on("pending", renderNotes);
t.on("change", renderNotes);
t.on("conflict", (c) => {
	conflicts.set(c.id, c);
	renderConflicts();
	renderNotes();
});
t.on("event", (e) => {
	if (e.type === "conflict.resolved" && conflicts.delete(e.data.conflict_id))
		renderConflicts();
	if (e.type.startsWith("device."))
		renderDevices();
});
t.on("auth", (a) => leaveApp(a.code === "DEVICE_REVOKED" ? "This device was signed out from another device."
	: "Your session ended: sign in again."));
setInterval(() => { if (t.signedIn && t.status === "online") renderDevices(); }, 30_000);

await t.ready;
showStatus(t.status);
if (t.signedIn)
	enterApp();
else
	leaveApp();
