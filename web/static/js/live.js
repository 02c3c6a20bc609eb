// The Socket.IO connection: authenticated by the session cookie of the handshake.

let socketPromise = null;

export function liveEnabled() {
  return document.body.dataset.live === "1";
}

export function chatEnabled() {
  return document.body.dataset.chat === "1";
}

// The page's one socket, or null when this server pushes no live events.
export function connect() {
  if (!liveEnabled()) return Promise.resolve(null);
  if (!socketPromise) {
    socketPromise = import("/vendor/socket.io.esm.min.js").then(({ io }) =>
      io({ path: "/socket.io", withCredentials: true }),
    );
  }
  return socketPromise;
}

// Emit with an acknowledgement; resolves {ok: false, error} on timeout instead of hanging.
export async function request(socket, event, payload, timeoutMs = 5000) {
  try {
    return await socket.timeout(timeoutMs).emitWithAck(event, payload);
  } catch {
    return { ok: false, error: "the server did not answer" };
  }
}
