// One multipart upload request with progress, for every page that uploads through a form post:
// the files page (/api/v1/files/), quick send (/api/v1/send/) and the upload-link page
// (/r/<token>/upload). XMLHttpRequest because fetch cannot report upload progress.
//
// `postForm(url, formData, {headers, onProgress})` starts the request and returns
// `{done, abort}`: `done` resolves (never rejects) with the outcome
//   {status, text, data}                — the server answered (`data`: the parsed JSON, or null)
//   {status: 0, networkError: true}     — no answer (connection lost, server unreachable)
//   {status: 0, aborted: true}          — `abort()` was called
// and `onProgress(loaded, total)` follows the bytes sent.

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

export function postForm(url, body, { headers = {}, onProgress = null } = {}) {
  const xhr = new XMLHttpRequest();
  const done = new Promise((resolve) => {
    xhr.upload.addEventListener("progress", (event) => {
      if (onProgress && event.lengthComputable) onProgress(event.loaded, event.total);
    });
    xhr.addEventListener("load", () => {
      resolve({ status: xhr.status, text: xhr.responseText, data: parseJson(xhr.responseText) });
    });
    xhr.addEventListener("error", () => resolve({ status: 0, networkError: true }));
    xhr.addEventListener("abort", () => resolve({ status: 0, aborted: true }));
  });
  xhr.open("POST", url);
  xhr.setRequestHeader("Accept", "application/json");
  for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
  xhr.send(body);
  return { done, abort: () => xhr.abort() };
}
