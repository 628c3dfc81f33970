// The evidence page's own check, in the browser, with WebCrypto (Ed25519, SHA-256), against
// public keys pinned in this browser — never against the keys the page carries:
//   1. the server's keys are the pinned ones (pinned on first use, or pasted by the auditor);
//   2. the manifest's RFC 8785 bytes hash to its digest and carry the executor's signature;
//   3. the DSSE envelope is signed by the verifier and the witness, and vouches a match for
//      this manifest;
//   4. the log leaf is recomputed here from the envelope (SHA-256(0x00 || JCS(envelope)));
//   5. the inclusion proof (RFC 9162 §2.1.3.2) leads to the root written inside the
//      checkpoint note, and that note is signed by the log key.
// Nothing is sent anywhere. Not checked here: the replay and the attestation evidence.
(async () => {
  const dataEl = document.getElementById("evidence-data");
  const status = document.getElementById("proof-status");
  const list = document.getElementById("browser-checks");
  if (!dataEl || !status || !list) return;
  const ev = JSON.parse(dataEl.textContent);
  if (!ev) return;
  const STORE = "trustfabric.pinned-keys";
  const ROLES = ["executor", "verifier", "witness", "log"];
  const enc = new TextEncoder();

  const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
  const fromHex = (h) => new Uint8Array(h.match(/../g).map((x) => parseInt(x, 16)));
  const fromB64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  const concat = (...parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  };
  const sha256 = async (bytes) => new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  // RFC 8785: ECMAScript's JSON.stringify is the reference serialization of strings and
  // numbers, and Array.prototype.sort orders keys by UTF-16 code units, as JCS requires.
  const jcs = (v) => {
    if (v === null || typeof v !== "object") return JSON.stringify(v);
    if (Array.isArray(v)) return "[" + v.map(jcs).join(",") + "]";
    return "{" + Object.keys(v).sort().map((k) => JSON.stringify(k) + ":" + jcs(v[k])).join(",") + "}";
  };
  const keyId = async (b64key) => hex(await sha256(fromB64(b64key))).slice(0, 16);
  const edVerify = async (b64key, signature, data) => {
    const key = await crypto.subtle.importKey("raw", fromB64(b64key), { name: "Ed25519" }, false, ["verify"]);
    return crypto.subtle.verify({ name: "Ed25519" }, key, signature, data);
  };

  let allOk = true;
  const check = (name, ok, detail) => {
    const li = document.createElement("li");
    li.dataset.check = name;
    li.dataset.ok = ok === null ? "skipped" : String(ok);
    li.className = ok === null ? "muted" : ok ? "ok" : "error";
    li.textContent = `${ok === null ? "–" : ok ? "✓" : "✗"} ${detail}`;
    list.appendChild(li);
    if (ok === false) allOk = false;
  };

  // Keys: pinned in this browser; the first visit pins what the server serves.
  let pinned = null;
  try { pinned = JSON.parse(localStorage.getItem(STORE)); } catch (e) { pinned = null; }
  if (!pinned || !pinned.keys) {
    pinned = { keys: Object.fromEntries(ROLES.map((r) => [r, ev.served_keys[r]])), pinned_at: new Date().toISOString(), source: "first use" };
    localStorage.setItem(STORE, JSON.stringify(pinned));
  }
  const keys = pinned.keys;
  const fps = await Promise.all(ROLES.map(async (r) => `${r} ${keys[r] ? await keyId(keys[r]) : "(none)"}`));
  document.getElementById("pinned-keys").textContent =
    `Pinned ${pinned.pinned_at.slice(0, 19).replace("T", " ")} UTC (${pinned.source}): ${fps.join(", ")}`;

  try {
    const differ = ROLES.filter((r) => ev.served_keys[r] !== keys[r]);
    check("keys", differ.length === 0, differ.length === 0
      ? "the server's keys are the keys pinned in this browser"
      : `the server's ${differ.join(", ")} key differs from the one pinned in this browser; checking with the pinned key`);

    const m = ev.manifest;
    if (m.canonicalization === "rfc8785") {
      const bytes = enc.encode(jcs(m.body));
      const digestOk = hex(await sha256(bytes)) === m.digest;
      const sigOk = keys.executor ? await edVerify(keys.executor, fromB64(m.signature), bytes) : false;
      check("manifest", digestOk && sigOk, digestOk && sigOk
        ? `the manifest shown hashes to ${m.digest.slice(0, 12)}… and is signed by the pinned executor key`
        : !digestOk ? "the manifest shown does not hash to its digest" : "the manifest's signature does not verify with the pinned executor key");
    } else {
      check("manifest", null, `manifest in the legacy ${m.canonicalization} encoding: not checked in the browser`);
    }

    const env = ev.envelope;
    const payload = fromB64(env.payload);
    const type = enc.encode(env.payloadType);
    const pae = concat(enc.encode(`DSSEv1 ${type.length} `), type, enc.encode(` ${payload.length} `), payload);
    const signed = [];
    for (const role of ["verifier", "witness"]) {
      const kid = keys[role] ? await keyId(keys[role]) : "";
      const sig = env.signatures.find((s) => s.keyid === kid);
      if (sig && (await edVerify(keys[role], fromB64(sig.sig), pae))) signed.push(role);
    }
    check("envelope", signed.length === 2, signed.length === 2
      ? "the envelope is signed by the pinned verifier and witness keys"
      : `the envelope lacks a valid signature by the pinned ${["verifier", "witness"].filter((r) => !signed.includes(r)).join(" and ")} key`);
    const statement = JSON.parse(new TextDecoder().decode(payload));
    const subjectOk = statement.manifest_digest === m.digest && statement.verdict === "match";
    check("subject", subjectOk, subjectOk ? "the envelope vouches a match for this manifest" : "the envelope does not vouch a match for this manifest");

    const [text] = ev.checkpoint.split("\n\n");
    const [origin, sizeText, rootB64] = text.split("\n");
    const root = fromB64(rootB64);
    const hint = (await sha256(concat(enc.encode(origin + "\n\x01"), fromB64(keys.log)))).slice(0, 4);
    let noteOk = false;
    for (const line of ev.checkpoint.split("\n\n")[1].trim().split("\n")) {
      const parts = line.split(" ");
      if (parts.length !== 3 || parts[0] !== "\u2014" || parts[1] !== origin) continue;
      const blob = fromB64(parts[2]);
      if (hex(blob.slice(0, 4)) !== hex(hint)) continue;
      noteOk = await edVerify(keys.log, blob.slice(4), enc.encode(text + "\n"));
    }
    const sizeOk = origin === ev.origin && Number(sizeText) === ev.tree_size;
    check("checkpoint", noteOk && sizeOk, noteOk && sizeOk
      ? `the checkpoint (size ${sizeText}, root ${hex(root).slice(0, 12)}…) is signed by the pinned log key`
      : !noteOk ? "the checkpoint is not signed by the pinned log key" : "the checkpoint names another log or size");

    const leaf = await sha256(concat(new Uint8Array([0]), enc.encode(jcs(env))));
    const node = async (l, r) => sha256(concat(new Uint8Array([1]), l, r));
    let fn = ev.leaf_index, sn = ev.tree_size - 1, r = leaf;
    for (const p of ev.hashes.map(fromHex)) {
      if (sn === 0) throw new Error("proof too long");
      if (fn % 2 === 1 || fn === sn) {
        r = await node(p, r);
        if (fn % 2 === 0) while (fn !== 0 && fn % 2 === 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      } else {
        r = await node(r, p);
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    const included = sn === 0 && hex(r) === hex(root);
    check("inclusion", included, included
      ? `the leaf computed here from the envelope is entry ${ev.leaf_index} under the signed root`
      : "the leaf computed from the envelope does not lead to the signed root");
  } catch (e) {
    check("error", false, "check failed: " + e.message);
  }
  status.textContent = allOk ? "verified" : "NOT verified";
  status.className = allOk ? "pill ok" : "pill deny";
  status.dataset.proofStatus = allOk ? "ok" : "failed";

  document.getElementById("pin-save")?.addEventListener("click", () => {
    try {
      const given = JSON.parse(document.getElementById("pin-keys").value);
      const chosen = Object.fromEntries(ROLES.map((r) => [r, given[r]]));
      if (ROLES.some((r) => typeof chosen[r] !== "string")) throw new Error(`give all of ${ROLES.join(", ")}`);
      localStorage.setItem(STORE, JSON.stringify({ keys: chosen, pinned_at: new Date().toISOString(), source: "pasted" }));
      location.reload();
    } catch (e) {
      alert("Not pinned: " + e.message);
    }
  });
  document.getElementById("pin-forget")?.addEventListener("click", () => {
    localStorage.removeItem(STORE);
    location.reload();
  });
})();
