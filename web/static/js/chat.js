// One conversation between a user and the admins: messages, typing indicator, "seen".

import { dateTime, h } from "./dom.js";
import { request } from "./live.js";

const TYPING_IDLE_MS = 2500;
const TYPING_SHOWN_MS = 6000;

export class ChatView {
  constructor(root, socket, { me, conversationId = null, otherName = "", isOpen, onIncoming }) {
    this.root = root;
    this.socket = socket;
    this.me = me;
    this.conversationId = conversationId;
    this.otherName = otherName;
    this.isOpen = isOpen || (() => true);
    this.onIncoming = onIncoming || (() => {});
    this.ids = new Set();
    this.seenUpTo = 0;
    this.loaded = false;
    this.typingSent = false;
    this.typingTimer = null;
    this.typingShownTimer = null;
    this.build();
    socket.on("chat_message", (p) => this.onMessage(p));
    socket.on("chat_typing", (p) => this.onTyping(p));
    socket.on("chat_read", (p) => this.onRead(p));
    document.addEventListener("visibilitychange", () => this.markRead());
  }

  build() {
    this.list = h("ol", { class: "messages", "aria-label": "Conversation", "aria-live": "polite" });
    this.empty = h("p", { class: "empty chat-empty" }, "No messages yet. Say hello!");
    this.typing = h("p", { class: "typing", hidden: true, "aria-live": "polite" });
    this.input = h("textarea", {
      name: "text", rows: "2", maxlength: "4000", placeholder: "Write a message…",
      "aria-label": "Message", required: true,
    });
    this.error = h("p", { class: "form-error", role: "alert", hidden: true });
    this.form = h(
      "form",
      { class: "composer" },
      this.input,
      h("button", { type: "submit", class: "primary" }, "Send"),
    );
    this.root.replaceChildren(this.list, this.empty, this.typing, this.error, this.form);
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.send();
    });
    this.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey) {
        e.preventDefault();
        this.send();
      }
    });
    this.input.addEventListener("input", () => this.typingChanged());
  }

  // Only admins name the conversation; a user's conversation is always their own.
  target(extra = {}) {
    return this.me.isAdmin ? { user_id: this.conversationId, ...extra } : { ...extra };
  }

  async switchTo(conversationId, otherName) {
    this.stopTyping();
    this.conversationId = conversationId;
    this.otherName = otherName;
    this.loaded = false;
    this.ids.clear();
    this.seenUpTo = 0;
    this.readUpTo = 0;
    this.list.replaceChildren();
    this.typing.hidden = true;
    await this.open();
  }

  async history() {
    return request(this.socket, "chat_history", this.target({ limit: 50 }));
  }

  async unreadCount() {
    const res = await this.history();
    if (!res.ok) return 0;
    const c = res.conversation || {};
    return Number(c.unread ?? c.unread_count ?? 0);
  }

  async open() {
    if (!this.loaded) {
      const res = await this.history();
      if (!res.ok) {
        this.showError(res.error || "The chat is not available right now.");
        return;
      }
      this.loaded = true;
      const messages = [...(res.messages || [])].sort((a, b) => a.id - b.id);
      for (const m of messages) this.append(m);
      const c = res.conversation || {};
      // The other side's read mark: the admins' for a user, the user's for an admin.
      const seen = this.me.isAdmin ? c.user_read_id : c.admin_read_id;
      if (seen) this.markSeen(Number(seen));
    }
    this.updateEmpty();
    this.scroll();
    this.markRead();
    this.input.focus();
  }

  mine(message) {
    return message.sender_id === this.me.id;
  }

  append(message) {
    if (this.ids.has(message.id)) return false;
    this.ids.add(message.id);
    const mine = this.mine(message);
    const who = mine ? "You" : message.sender_name || (message.sender_role === "admin" ? "Support" : "User");
    const li = h(
      "li",
      { class: `msg ${mine ? "mine" : "theirs"}`, dataset: { id: String(message.id) } },
      h("div", { class: "bubble" }, message.text),
      h(
        "div",
        { class: "meta" },
        h("span", { class: "sender" }, who),
        " · ",
        h("time", { datetime: message.created_at }, message.created_at ? dateTime(message.created_at) : ""),
        mine ? h("span", { class: "seen", hidden: true }, " · Seen") : null,
      ),
    );
    // Keep the list in id order even when an ack and its broadcast race.
    const after = Array.from(this.list.children).find((el) => Number(el.dataset.id) > message.id);
    this.list.insertBefore(li, after || null);
    this.updateEmpty();
    this.scroll();
    this.markSeen(this.seenUpTo);
    return true;
  }

  updateEmpty() {
    this.empty.hidden = this.list.children.length > 0;
  }

  scroll() {
    this.list.scrollTop = this.list.scrollHeight;
  }

  showError(text) {
    this.error.textContent = text;
    this.error.hidden = !text;
  }

  async send() {
    const text = this.input.value.trim();
    if (!text || this.conversationId === null) return;
    this.showError("");
    this.stopTyping();
    const res = await request(this.socket, "chat_send", this.target({ text }));
    if (!res.ok) {
      this.showError(res.error || "The message was not sent.");
      return;
    }
    this.input.value = "";
    if (res.message) this.append(res.message);
  }

  typingChanged() {
    if (this.conversationId === null) return;
    if (!this.typingSent) {
      this.typingSent = true;
      this.socket.emit("chat_typing", this.target({ typing: true }));
    }
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  stopTyping() {
    clearTimeout(this.typingTimer);
    if (this.typingSent && this.conversationId !== null) {
      this.socket.emit("chat_typing", this.target({ typing: false }));
    }
    this.typingSent = false;
  }

  onMessage(payload) {
    const message = payload.message || {};
    if (payload.conversation_id !== this.conversationId || !this.loaded) {
      if (payload.conversation_id === this.conversationId && !this.mine(message)) {
        this.onIncoming(message);
      }
      return;
    }
    const added = this.append(message);
    if (!added || this.mine(message)) return;
    this.typing.hidden = true;
    if (this.isOpen()) this.markRead();
    else this.onIncoming(message);
  }

  onTyping(payload) {
    if (payload.conversation_id !== this.conversationId || payload.sender_id === this.me.id) return;
    clearTimeout(this.typingShownTimer);
    if (!payload.typing) {
      this.typing.hidden = true;
      return;
    }
    this.typing.textContent = `${payload.sender_name || this.otherName} is typing…`;
    this.typing.hidden = false;
    this.typingShownTimer = setTimeout(() => (this.typing.hidden = true), TYPING_SHOWN_MS);
  }

  onRead(payload) {
    if (payload.conversation_id !== this.conversationId || payload.reader_id === this.me.id) return;
    this.markSeen(Number(payload.message_id));
  }

  // Show "Seen" under the newest of my messages the other side has read.
  markSeen(messageId) {
    this.seenUpTo = Math.max(this.seenUpTo, messageId || 0);
    let last = null;
    for (const li of this.list.querySelectorAll(".msg.mine")) {
      li.querySelector(".seen").hidden = true;
      if (Number(li.dataset.id) <= this.seenUpTo) last = li;
    }
    if (last) last.querySelector(".seen").hidden = false;
  }

  markRead() {
    if (!this.loaded || !this.isOpen() || this.conversationId === null) return;
    const theirs = Array.from(this.list.querySelectorAll(".msg.theirs"));
    const last = theirs[theirs.length - 1];
    if (!last) return;
    const id = Number(last.dataset.id);
    if (id <= (this.readUpTo || 0)) return;
    this.readUpTo = id;
    this.socket.emit("chat_read", this.target({ message_id: id }));
  }
}
