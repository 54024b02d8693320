// The console page: noVNC's RFB over the gateway's websocket, authenticated by the one-time
// token the console action put in this page's URL fragment (#token=…), which browsers never
// send to a server.
const status = document.getElementById("status");
const cad = document.getElementById("cad");

function show(state, words) {
  status.dataset.state = state;
  status.textContent = words;
}

const params = new URLSearchParams(window.location.hash.slice(1));
const token = params.get("token");
// The token works once: keep it out of the history and of a reload.
history.replaceState(null, "", window.location.pathname);

async function start() {
  if (!token) {
    show("error", "error: this page needs the link the console action gave (…/console/#token=…)");
    return;
  }
  let RFB;
  try {
    RFB = (await import("./novnc/core/rfb.js")).default;
  } catch (e) {
    show("error", "error: the console library did not load (" + e + ")");
    return;
  }
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  const url = scheme + "//" + window.location.host + "/console/websocket?token=" +
    encodeURIComponent(token);
  show("connecting", "connecting…");
  const rfb = new RFB(document.getElementById("screen"), url, { wsProtocols: ["binary"] });
  rfb.scaleViewport = true;
  rfb.addEventListener("connect", () => {
    show("connected", "connected");
    cad.disabled = false;
    rfb.focus();
  });
  rfb.addEventListener("disconnect", (e) => {
    cad.disabled = true;
    show("disconnected", e.detail.clean
      ? "disconnected"
      : "disconnected: the connection was refused or lost (a console link works once, " +
        "for a short time; ask for a new console)");
  });
  rfb.addEventListener("securityfailure", (e) => {
    show("error", "error: authentication failed" +
      (e.detail.reason ? " (" + e.detail.reason + ")" : ""));
  });
  rfb.addEventListener("desktopname", (e) => {
    document.title = e.detail.name + " — console";
  });
  cad.addEventListener("click", () => rfb.sendCtrlAltDel());
  window.cycladesConsole = rfb;
}

document.getElementById("fullscreen").addEventListener("click", () => {
  const el = document.documentElement;
  if (document.fullscreenElement) {
    document.exitFullscreen();
  } else if (el.requestFullscreen) {
    el.requestFullscreen().catch((e) => show(status.dataset.state,
      status.textContent + " (full screen refused: " + e.message + ")"));
  }
});

start();
