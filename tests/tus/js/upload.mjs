// Drives tus-js-client (the official JavaScript client) for tests/tus/test_tus_js_client.py.
//   node upload.mjs start  <endpoint> <token> <file> <stop-after-bytes>
//     uploads in 5 MiB chunks and abandons the upload (no termination) once the server has at
//     least that many bytes; prints {"url", "accepted"}.
//   node upload.mjs resume <endpoint> <token> <file> <upload-url>
//     continues that upload; prints {"url", "resumedAt" (the server's offset from HEAD), "fileId"}.
import fs from "node:fs";
import * as tus from "tus-js-client";

const [mode, endpoint, token, filePath, arg] = process.argv.slice(2);
const data = fs.readFileSync(filePath);
const result = {};

const upload = new tus.Upload(data, {
  endpoint,
  uploadUrl: mode === "resume" ? arg : null,
  headers: { Authorization: `Bearer ${token}` },
  chunkSize: 5 * 1024 * 1024,
  retryDelays: null,
  metadata: { filename: "from-node.bin", filetype: "application/octet-stream" },
  onAfterResponse(req, res) {
    if (req.getMethod() === "HEAD" && result.resumedAt === undefined) {
      result.resumedAt = Number(res.getHeader("Upload-Offset"));
    }
    const fileId = res.getHeader("Locker-File-Id");
    if (fileId) result.fileId = fileId;
  },
  onChunkComplete(_chunk, accepted) {
    if (mode === "start" && accepted >= Number(arg)) {
      result.url = upload.url;
      result.accepted = accepted;
      upload.abort(false).then(() => {
        console.log(JSON.stringify(result));
        process.exit(0);
      });
    }
  },
  onSuccess() {
    result.url = upload.url;
    console.log(JSON.stringify(result));
    process.exit(0);
  },
  onError(error) {
    console.error(String(error));
    process.exit(1);
  },
});
upload.start();
