// Modal forms for every action (native <dialog>: focus stays inside, Esc cancels). The dialog
// is the confirmation step: nothing is sent until its button is pressed, and an action that
// needs a reason cannot be sent without one.
import { h, fill } from "./dom.js";
import { ApiError } from "./api.js";

let counter = 0;

function control(field, id) {
  const common = { id, name: field.name, required: field.required || null, ...(field.attrs || {}) };
  if (field.type === "textarea") return h("textarea", common, field.value ?? "");
  if (field.type === "select") {
    return h("select", common, field.options.map(([value, label]) =>
      h("option", { value, selected: value === field.value || null }, label)));
  }
  if (field.type === "checkbox") return h("input", { ...common, type: "checkbox", checked: field.value || null });
  return h("input", { ...common, type: field.type || "text", value: field.value ?? "" });
}

function read(form, fields) {
  const values = {};
  for (const field of fields) {
    const el = form.elements.namedItem(field.name);
    if (!el) continue;
    if (field.type === "checkbox") values[field.name] = el.checked;
    else if (field.type === "number") values[field.name] = el.value === "" ? null : Number(el.value);
    else values[field.name] = el.value.trim();
  }
  return values;
}

export function formDialog({ title, intro, fields, submit, danger, onSubmit, onOpen, name }) {
  counter += 1;
  const titleId = `dlg-title-${counter}`;
  const error = h("div", { class: "error", role: "alert", "data-role": "error" });
  const notice = h("div", { class: "notice", role: "status", "data-role": "notice" });
  const extra = h("div", { "data-role": "extra" });
  const rows = fields.map((field) => {
    const id = `f${counter}-${field.name}`;
    const help = field.help ? h("div", { class: "field-help", id: `${id}-help` }, field.help) : null;
    const input = control(field, id);
    if (help) input.setAttribute("aria-describedby", `${id}-help`);
    if (field.type === "checkbox") return h("div", {}, h("label", { class: "inline", for: id }, input, field.label), help);
    return h("div", {}, h("label", { for: id }, field.label), input, help);
  });
  const cancel = h("button", { type: "button", value: "cancel" }, "Cancel");
  const go = h("button", { type: "submit", class: danger ? "danger" : "primary" }, submit);
  const form = h("form", { novalidate: null }, intro ? h("p", {}, intro) : null, extra, rows, notice, error,
    h("div", { class: "actions" }, cancel, go));
  const dialog = h("dialog", { "aria-labelledby": titleId, "data-dialog": name || "" }, h("h2", { id: titleId }, title), form);
  const api = {
    dialog,
    form,
    extra,
    close: () => dialog.close(),
    error: (text) => fill(error, text || ""),
    notice: (text) => fill(notice, text || ""),
  };
  cancel.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => dialog.remove());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    api.error("");
    if (!form.reportValidity()) return;
    go.disabled = true;
    try {
      await onSubmit(read(form, fields), api);
    } catch (failure) {
      api.error(failure instanceof ApiError || failure instanceof Error ? failure.message : String(failure));
      if (failure instanceof ApiError) dialog.dataset.status = String(failure.status);
    } finally {
      go.disabled = false;
    }
  });
  document.body.appendChild(dialog);
  if (onOpen) onOpen(api);
  dialog.showModal();
  return api;
}

export function toast(text, bad) {
  const el = document.getElementById("toast");
  fill(el, text);
  el.className = `toast show${bad ? " bad" : ""}`;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.className = "toast"; }, 6000);
}
