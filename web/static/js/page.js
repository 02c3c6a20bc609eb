// What every signed-in page does: the live connection, the alert banner, the chat panel.

import { $, dateTime, h, hourRange, kwh, toast } from "./dom.js";
import { chatEnabled, connect } from "./live.js";

export const me = {
  id: Number(document.body.dataset.userId),
  role: document.body.dataset.role,
  email: document.body.dataset.email,
  get isAdmin() {
    return this.role === "admin";
  },
};

// A yellow banner per over-limit alert, until dismissed.
export function showAlertBanner(alert) {
  const box = document.getElementById("banners");
  if (!box || box.querySelector(`[data-alert-id="${alert.id}"]`)) return;
  const device = alert.device_description || `Device ${alert.device_id}`;
  const what =
    alert.kind === "peak_power"
      ? `drew ${kwh(alert.power_kw).replace("kWh", "kW")} on average`
      : `used ${kwh(alert.total_kwh)}`;
  const el = h(
    "div",
    { class: "banner banner-alert", role: "alert", dataset: { alertId: String(alert.id), deviceId: String(alert.device_id) } },
    h("span", { class: "banner-icon", "aria-hidden": "true" }, "!"),
    h(
      "p",
      { class: "banner-text" },
      h("strong", {}, device),
      ` ${what} between ${hourRange(alert.hour)}`,
      ` (${dateTime(alert.hour).split(",")[0]})`,
      `, over its limit of ${kwh(alert.limit_kwh)}.`,
      alert.late ? " (late reading)" : "",
    ),
    h("a", { class: "banner-link", href: "/alerts" }, "All alerts"),
    h("button", { type: "button", class: "banner-close", onclick: () => el.remove() }, "Dismiss"),
  );
  box.append(el);
}

function withdrawBanner(payload) {
  document.querySelector(`#banners [data-alert-id="${payload.id}"]`)?.remove();
}

let chatPanel = null;

async function userChatPanel(socket) {
  const toggle = $("#chat-toggle");
  const panel = $("#chat-panel");
  const badge = $("#chat-badge");
  if (!toggle || !panel) return;
  const { ChatView } = await import("./chat.js");
  let unread = 0;
  const setUnread = (n) => {
    unread = n;
    badge.textContent = String(n);
    badge.hidden = n === 0;
  };
  const view = new ChatView($("#user-chat"), socket, {
    me,
    conversationId: me.id,
    otherName: "Support",
    isOpen: () => !panel.hidden && document.visibilityState === "visible",
    onIncoming: (message) => {
      setUnread(unread + 1);
      toast(`New message from ${message.sender_name || "Support"}`, "info");
    },
  });
  chatPanel = view;
  const open = async () => {
    panel.hidden = false;
    toggle.setAttribute("aria-expanded", "true");
    setUnread(0);
    await view.open();
  };
  const close = () => {
    panel.hidden = true;
    toggle.setAttribute("aria-expanded", "false");
  };
  toggle.addEventListener("click", () => (panel.hidden ? open() : close()));
  $("#chat-close").addEventListener("click", close);
  // Count what arrived while away.
  const unreadNow = await view.unreadCount();
  setUnread(unreadNow);
}

export async function startPage({ onAlert } = {}) {
  const socket = await connect();
  if (!socket) return null;
  socket.on("alert", (alert) => {
    showAlertBanner(alert);
    onAlert?.(alert);
  });
  socket.on("alert_withdrawn", withdrawBanner);
  // Logging out here ends this page's session too: the form's own answer says where to go.
  let loggingOut = false;
  document.querySelector("form.logout")?.addEventListener("submit", () => {
    loggingOut = true;
  });
  socket.on("session_revoked", () => {
    if (!loggingOut) location.assign("/login");
  });
  socket.on("connect_error", (err) => {
    console.warn("live updates unavailable:", err.message);
  });
  if (chatEnabled() && !me.isAdmin) userChatPanel(socket);
  return socket;
}

export function getChatPanel() {
  return chatPanel;
}
