"""The cost of erasure v2's sealing, each step beside the plain step it replaces.

- capture: store an image encrypted under its patient's key at an HMAC address and seal
  the capture's fields, against storing the plain bytes by SHA-256 (both fsync the file);
- replay: decode and open a sealed ImageCaptured (what every view, release and dedup
  check folds), against decoding a plain one;
- release: open an encrypted image and write it into the release, against reading a
  plain blob (checked against its SHA-256) and writing it.

Images are the synthetic cohort's (about 100 kB JPEGs); nothing else runs meanwhile.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from pathlib import Path

from dermledger.bench.common import Row, say
from dermledger.ledger.blobs import BlobStore
from dermledger.ledger.canonical import canonical_json
from dermledger.ledger.keyed_blobs import KeyedBlobStore
from dermledger.ledger.store import decode
from dermledger.study.imaging import inspect_image
from dermledger.study.personal_data import FilePatientKeyStore
from dermledger.study.sealing import Sealer
from dermledger.synthetic.images import draw_image, encode_jpeg

BACKEND = "files"
META = {"age": 52, "sex": "female", "anatom_site": "Trunk:Posterior trunk",
        "image_type": "dermoscopic", "dermoscopic_type": "contact polarized"}  # fmt: skip


def captured(image_id: str, data: bytes) -> dict[str, object]:
    f = inspect_image(data)
    return {"image_id": image_id, "patient_id": "P1", "lesion_id": "L1",
            "blob_sha256": f.sha256, "pixel_sha256": f.pixel_sha256, "phash": f.phash,
            "dhash": f.dhash, "region_hash": f.region_hash, "width": f.width,
            "height": f.height, "format": f.format, "size_bytes": f.size_bytes,
            "device": "DermLite DL5", "focus": f.focus, "sop": {"deviations": []},
            "metadata": META}  # fmt: skip


def stored(payload: dict[str, object]) -> bytes:
    """An envelope's stored bytes with this payload (hash and signature are not checked)."""
    return canonical_json({"event_id": str(uuid.uuid4()), "stream_id": str(payload["image_id"]),
                           "stream_version": 1, "type": "ImageCaptured",
                           "recorded_at": "2026-12-02T09:00:00.000000Z", "actor": "ada",
                           "key_id": "0" * 64, "payload": payload, "prev_hash": None,
                           "hash": "0" * 64, "signature": "AA=="})  # fmt: skip


def run(args: object, *, images: int = 120) -> list[Row]:
    workdir = Path(getattr(args, "workdir", Path("/tmp"))) / f"sealing-{uuid.uuid4().hex[:6]}"
    sealer = Sealer(FilePatientKeyStore(workdir / "patient-keys"))
    key, _ = sealer.ensure_key("P1")
    datas = [encode_jpeg(draw_image(5000 + i)) for i in range(images)]
    plain_payloads = [captured(f"IMG-{i:016x}", d) for i, d in enumerate(datas)]
    say(f"sealing: {images} images")
    plain, keyed = BlobStore(workdir / "plain"), KeyedBlobStore(workdir / "sealed")
    t = time.perf_counter()
    for d in datas:
        plain.put(d)
    base_capture = time.perf_counter() - t
    t = time.perf_counter()
    sealed_payloads = []
    for d, p in zip(datas, plain_payloads, strict=True):
        k = sealer.key("P1") or key  # the key read every capture makes
        ref, _ = keyed.put(sealer.blob_key(k), d)
        sealed_payloads.append(sealer.seal_capture(k, p, ref))
    ours_capture = time.perf_counter() - t
    plain_bytes = [stored(p) for p in plain_payloads] * 20
    sealed_bytes = [stored(p) for p in sealed_payloads] * 20
    t = time.perf_counter()
    for b in plain_bytes:
        decode(b)
    base_replay = time.perf_counter() - t
    t = time.perf_counter()
    opener = sealer.opening()
    for b in sealed_bytes:
        opener(decode(b))
    ours_replay = time.perf_counter() - t
    out = workdir / "release"
    out.mkdir()
    t = time.perf_counter()
    for p in plain_payloads:
        sha = str(p["blob_sha256"])
        (out / f"a-{sha}").write_bytes(plain.read(sha))
    base_release = time.perf_counter() - t
    t = time.perf_counter()
    blob_key = sealer.blob_key(key)
    for p in sealed_payloads:
        data = keyed.read(blob_key, str(p["blob_ref"]))
        assert hashlib.sha256(data).hexdigest()
        (out / f"b-{p['blob_ref']}").write_bytes(data)
    ours_release = time.perf_counter() - t
    n, events = images, len(sealed_bytes)
    return [
        Row("capture storage: sealed (keyed blob + fields) vs plain blob", BACKEND, n,
            n / ours_capture, n / base_capture, 0, "plain content-addressed put, fsync"),
        Row("replay: decode + open sealed capture vs decode plain", BACKEND, events,
            events / ours_replay, events / base_replay, 0, "decode of the plain event"),
        Row("release image: open keyed blob + write vs read plain + write", BACKEND, n,
            n / ours_release, n / base_release, 0, "plain blob read (SHA-256 checked)"),
    ]  # fmt: skip


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for row in run(type("A", (), {"workdir": Path(tmp)})()):
            print(f"{row.measure}: ours {row.ours_per_s:,.0f}/s, baseline "
                  f"{row.baseline_per_s:,.0f}/s, ratio {row.ratio:.2f}")  # fmt: skip
