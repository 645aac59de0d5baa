// The operator's actions, each a dialog that calls the admin API. The API checks the role
// again on every call; the dashboard only hides what the role cannot do.
import { h, fill } from "./dom.js";
import { ApiError, get, post, put, enc } from "./api.js";
import { formDialog, toast } from "./dialogs.js";

const base = (route) => `/admin/routes/${enc(route)}`;

// The open weights dialog, told when the route changes underneath it.
export const editing = { notify: null };

// Servers with release operations (freeze windows, kill switch, review items) say so by the
// route's `kill_switch` field; older ones refuse the `emergency` field, so it is sent only then.
export const hasOperations = (route) => Object.hasOwn(route, "kill_switch");

const EMERGENCY = {
  name: "emergency", type: "checkbox",
  label: "Emergency: override a freeze window (leaves a needs-review item on the route)",
};

export function weightsDialog(route, reload) {
  const revision = route.revision;
  const ids = route.releases.map((r) => r.id);
  const fields = ids.map((id) => ({
    name: `w_${id}`, label: `${id}${id === route.stable ? " (stable)" : ""} — percent`, type: "number",
    value: route.weights[id] ?? 0, attrs: { min: 0, max: 100, step: 0.01, "data-release": id },
  }));
  fields.push({ name: "reason", label: "Reason", type: "textarea", required: true, help: "Recorded in the audit trail." });
  if (hasOperations(route)) fields.push(EMERGENCY);
  const sum = h("p", { class: "small muted", "data-role": "sum" });
  const dialog = formDialog({
    name: "weights",
    title: `Set weights of ${route.name}`,
    fields,
    submit: "Set weights",
    onOpen: (api) => {
      api.extra.appendChild(h("p", { "data-role": "revision" }, `Editing revision ${revision}. ` +
        "If someone else changes the route first, nothing is changed and you are told."));
      const reason = api.form.elements.namedItem("reason").parentElement;
      api.form.insertBefore(sum, reason);
      const update = () => {
        const total = ids.reduce((acc, id) => acc + Number(api.form.elements.namedItem(`w_${id}`).value || 0), 0);
        fill(sum, `Total ${Math.round(total * 100) / 100}% (must be exactly 100%)`);
      };
      api.form.addEventListener("input", update);
      update();
    },
    onSubmit: async (values, api) => {
      const weights = {};
      for (const id of ids) weights[id] = values[`w_${id}`] ?? 0;
      try {
        const body = { weights, expected_revision: revision, reason: values.reason };
        if (values.emergency) body.emergency = true;
        await put(`${base(route.name)}/weights`, body);
      } catch (failure) {
        // Only a stale revision is "someone else was first"; other 409s (a freeze window, a
        // running rollout) carry their own message.
        if (failure instanceof ApiError && failure.status === 409 && failure.code === "revision_conflict") {
          const now = await get(base(route.name)).catch(() => null);
          throw new Error(
            `Someone else changed this route first: it is now at revision ${now ? now.revision : "?"}, ` +
            `your edit was based on revision ${revision}. Nothing was changed. ` +
            "Close this dialog to see the current weights, then try again.");
        }
        throw failure;
      }
      api.close();
      toast(`Weights of ${route.name} set.`);
      reload();
    },
  });
  editing.notify = (newRevision) => {
    if (newRevision !== revision && dialog.dialog.open) {
      dialog.notice(`The route changed while you were editing (now revision ${newRevision}); saving will be refused.`);
    }
  };
  dialog.dialog.addEventListener("close", () => { editing.notify = null; });
}

export function rollbackDialog(route, reload) {
  const others = route.releases.filter((r) => r.id !== route.stable).map((r) => [r.id, r.id]);
  formDialog({
    name: "rollback",
    title: `Roll back ${route.name}`,
    intro: `All traffic goes to the stable release ${route.stable} at once; a running rollout ends. ` +
      "Rollbacks are always allowed.",
    fields: [
      { name: "to", label: "Send traffic to", type: "select", value: "", options: [["", `${route.stable} (stable)`], ...others] },
      { name: "reason", label: "Reason (required)", type: "textarea", required: true },
      ...(hasOperations(route) ? [{ name: "emergency", type: "checkbox",
        label: "Emergency: also engage the kill switch on that release (leaves a needs-review item)" }] : []),
    ],
    submit: "Roll back now",
    danger: true,
    onSubmit: async (values, api) => {
      const body = { reason: values.reason };
      if (values.to) body.to = values.to;
      if (values.emergency) body.emergency = true;
      await post(`${base(route.name)}/rollback`, body);
      api.close();
      toast(`${route.name} rolled back.`);
      reload();
    },
  });
}

export function pinDialog(route, reload) {
  const verb = route.pinned ? "unpin" : "pin";
  formDialog({
    name: verb,
    title: `${route.pinned ? "Unpin" : "Pin"} ${route.name}`,
    intro: route.pinned
      ? "Automation (the rollout controller) may move the route again."
      : "Freezes the route against automation: a rollout holds and says so.",
    fields: [{ name: "reason", label: "Reason", type: "textarea", required: true }],
    submit: route.pinned ? "Unpin" : "Pin",
    onSubmit: async (values, api) => {
      await post(`${base(route.name)}/${verb}`, { reason: values.reason, expected_revision: route.revision });
      api.close();
      reload();
    },
  });
}

export function promoteDialog(route, release, reload) {
  formDialog({
    name: "promote",
    title: `Promote ${release} on ${route.name}`,
    intro: `${release} becomes the stable release with 100% of the traffic.`,
    fields: [{ name: "reason", label: "Reason", type: "textarea", required: true },
      ...(hasOperations(route) ? [EMERGENCY] : [])],
    submit: `Promote ${release}`,
    onSubmit: async (values, api) => {
      const body = { release, reason: values.reason, expected_revision: route.revision };
      if (values.emergency) body.emergency = true;
      await post(`${base(route.name)}/promote`, body);
      api.close();
      reload();
    },
  });
}

export function killDialog(route, reload) {
  if (route.kill_switch) {
    formDialog({
      name: "unkill",
      title: `Lift the kill switch of ${route.name}`,
      intro: `Calls follow the weights again instead of all going to ${route.kill_switch}.`,
      fields: [{ name: "reason", label: "Reason", type: "textarea", required: true }],
      submit: "Lift kill switch",
      onSubmit: async (values, api) => {
        await post(`${base(route.name)}/unkill`, { reason: values.reason, expected_revision: route.revision });
        api.close();
        reload();
      },
    });
    return;
  }
  formDialog({
    name: "kill",
    title: `Kill switch on ${route.name}`,
    intro: "Every call gets one release, whatever the weights, pins and rollouts say, in one audited flip. " +
      "Allowed in a freeze; leaves a needs-review item.",
    fields: [
      { name: "release", label: "Serve everyone", type: "select", value: route.stable,
        options: route.releases.map((r) => [r.id, `${r.id}${r.id === route.stable ? " (stable)" : ""}`]) },
      { name: "reason", label: "Reason (required)", type: "textarea", required: true },
    ],
    submit: "Engage kill switch",
    danger: true,
    onSubmit: async (values, api) => {
      await post(`${base(route.name)}/kill`, { release: values.release, reason: values.reason });
      api.close();
      reload();
    },
  });
}

const numberOrNull = (v) => (v === null || Number.isNaN(v) ? null : v);

export function startRolloutDialog(route, gates, reload) {
  const candidates = route.releases.filter((r) => r.id !== route.stable);
  formDialog({
    name: "start-rollout",
    title: `Start a rollout on ${route.name}`,
    intro: `A canary of the chosen release against ${route.stable}, judged by the controller's guards. ` +
      "Empty fields take the policy of the release's change type.",
    fields: [
      { name: "release", label: "Release", type: "select", value: candidates.length ? candidates[candidates.length - 1].id : "",
        options: candidates.map((r) => [r.id, `${r.id} — ${r.change_type}, gate ${gates[r.id] || "none"}`]) },
      { name: "steps", label: "Steps (percent)", help: "e.g. 1,5,25,50,100", attrs: { placeholder: "policy default" } },
      { name: "min_bake_s", label: "Minimum bake per step (s)", type: "number", attrs: { min: 0, placeholder: "policy default" } },
      { name: "min_requests", label: "Minimum canary calls per step", type: "number", attrs: { min: 0, placeholder: "policy default" } },
      { name: "max_step_s", label: "Maximum time per step (s)", type: "number", attrs: { min: 1, placeholder: "policy default" } },
      { name: "on_inconclusive", label: "When a step stays inconclusive", type: "select", value: "",
        options: [["", "policy default"], ["pause", "pause"], ["extend", "extend"]] },
      { name: "skip_gate", label: "Skip the eval gate (audited with the reason)", type: "checkbox" },
      { name: "reason", label: "Reason", type: "textarea", required: true },
    ],
    submit: "Start rollout",
    onSubmit: async (values, api) => {
      const body = { release: values.release, reason: values.reason };
      if (values.steps) {
        body.steps = values.steps.split(/[\s,]+/).filter(Boolean).map(Number);
        if (body.steps.some((s) => !Number.isFinite(s))) throw new Error("steps: numbers separated by commas, e.g. 1,5,25,100");
      }
      for (const key of ["min_bake_s", "min_requests", "max_step_s"]) {
        if (numberOrNull(values[key]) !== null) body[key] = values[key];
      }
      if (values.on_inconclusive) body.on_inconclusive = values.on_inconclusive;
      if (values.skip_gate) body.skip_gate = true;
      await post(`${base(route.name)}/rollouts`, body);
      api.close();
      toast(`Rollout of ${values.release} started.`);
      reload();
    },
  });
}

const VERBS = {
  pause: ["Pause the rollout", "The controller stops judging; traffic stays where it is.", false],
  resume: ["Resume the rollout", "The controller judges again (the step's weights are put back if moved).", false],
  abort: ["Abort the rollout", "All traffic goes back to the stable release at once.", true],
  promote: ["Promote the candidate now", "The candidate becomes stable at 100% without further steps.", false],
};

export function verbDialog(route, verb, reload) {
  const [title, intro, danger] = VERBS[verb];
  formDialog({
    name: `rollout-${verb}`,
    title,
    intro,
    fields: [{ name: "reason", label: "Reason", type: "textarea", required: true }],
    submit: title.split(" ")[0],
    danger,
    onSubmit: async (values, api) => {
      await post(`${base(route)}/rollouts/${verb}`, { reason: values.reason });
      api.close();
      reload();
    },
  });
}

export function ackDialog(route, review, reload) {
  formDialog({
    name: "ack",
    title: "Acknowledge a needs-review item",
    intro: `${review.action || "Emergency change"} by ${review.actor || "?"}: ${review.reason || ""}`,
    fields: [{ name: "note", label: "Note", type: "textarea", required: true }],
    submit: "Acknowledge",
    onSubmit: async (values, api) => {
      await post(`${base(route)}/reviews/${enc(review.id)}/ack`, { note: values.note });
      api.close();
      reload();
    },
  });
}
