// Check the inclusion proof in the browser (RFC 9162 §2.1.3.2) against the signed
// checkpoint's root, with WebCrypto SHA-256: the page does not ask you to trust the server.
(async () => {
  const el = document.getElementById("inclusion-proof");
  const status = document.getElementById("proof-status");
  if (!el || !status) return;
  const proof = JSON.parse(el.textContent);
  const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
  const bytes = (h) => new Uint8Array(h.match(/../g).map((x) => parseInt(x, 16)));
  const node = async (l, r) => {
    const data = new Uint8Array(1 + l.length + r.length);
    data[0] = 1; data.set(l, 1); data.set(r, 1 + l.length);
    return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  };
  try {
    let fn = proof.leaf_index, sn = proof.tree_size - 1, r = bytes(proof.leaf_hash);
    for (const p of proof.hashes.map(bytes)) {
      if (sn === 0) throw new Error("proof too long");
      if (fn % 2 === 1 || fn === sn) {
        r = await node(p, r);
        if (fn % 2 === 0) while (fn !== 0 && fn % 2 === 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      } else {
        r = await node(r, p);
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    const ok = sn === 0 && hex(r) === proof.root;
    status.textContent = ok ? "included" : "NOT included";
    status.className = ok ? "pill ok" : "pill deny";
    status.dataset.proofStatus = ok ? "ok" : "failed";
  } catch (e) {
    status.textContent = "check failed: " + e.message;
    status.className = "pill deny";
    status.dataset.proofStatus = "failed";
  }
})();
