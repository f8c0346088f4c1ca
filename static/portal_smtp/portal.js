// Glue between htmx and the page: the <dialog> modal and confirmations.
(function () {
  "use strict";
  function modal() { return document.getElementById("modal"); }

  // Content swapped into the modal opens it.
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "modal-content") {
      var dialog = modal();
      if (dialog && !dialog.open) { dialog.showModal(); }
    }
  });

  // The server closes the modal with the HX-Trigger "closeModal".
  document.addEventListener("closeModal", function () {
    var dialog = modal();
    if (dialog && dialog.open) { dialog.close(); }
  });

  // Any element with data-close-modal closes it.
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-close-modal]")) {
      event.preventDefault();
      var dialog = modal();
      if (dialog) { dialog.close(); }
    }
  });

  // Confirmations come from data-confirm attributes, never from inline JS: the text is data
  // (a sender's address may hold quotes), shown by confirm() as it is. Capture phase, so a
  // refusal stops the submit before htmx or the «Проверка…» listener see it.
  document.addEventListener("submit", function (event) {
    var submitter = event.submitter;
    var source = (submitter && submitter.hasAttribute("data-confirm")) ? submitter : event.target;
    var text = source.getAttribute && source.getAttribute("data-confirm");
    if (text && !window.confirm(text)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // An emptied dialog leaves no stale form behind.
  document.addEventListener("close", function (event) {
    if (event.target.id === "modal") {
      document.getElementById("modal-content").innerHTML = "";
    }
  }, true);
})();

// Lists: «отметить все», «ОТМЕЧЕНО: n / m» and «ДЛЯ ВСЕХ».
(function () {
  "use strict";
  function refreshCount(form) {
    var counter = form.querySelector("[data-checked-count]");
    if (!counter) { return; }
    var forAll = form.querySelector("[data-for-all]");
    if (forAll && forAll.checked) { counter.textContent = "все"; return; }
    counter.textContent = form.querySelectorAll("[data-row-check]:checked").length;
  }
  document.addEventListener("change", function (event) {
    var form = event.target.closest("form");
    if (!form) { return; }
    if (event.target.matches("[data-check-all]")) {
      form.querySelectorAll("[data-row-check]").forEach(function (box) {
        box.checked = event.target.checked;
      });
    }
    if (event.target.matches("[data-check-all], [data-row-check], [data-for-all]")) {
      refreshCount(form);
    }
  });
})();

// Long form submits (every save runs an SMTP check): block a second submit, say «Проверка…».
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!form.matches("[data-busy-on-submit]") || event.defaultPrevented) { return; }
  if (form.dataset.busy === "1") { event.preventDefault(); return; }
  form.dataset.busy = "1";
  form.classList.add("busy");
  var submitter = event.submitter;
  if (submitter && submitter.name) {
    // Disabled buttons are not submitted: keep the pressed one's value.
    var hidden = document.createElement("input");
    hidden.type = "hidden"; hidden.name = submitter.name; hidden.value = submitter.value;
    form.appendChild(hidden);
  }
  setTimeout(function () {
    form.querySelectorAll("button").forEach(function (button) { button.disabled = true; });
  }, 0);
});

// «Защита соединения» changes the port to its default unless the user typed another one.
document.addEventListener("change", function (event) {
  if (!event.target.matches("select[data-security]")) { return; }
  var defaults = { ssl: "465", starttls: "587", none: "25" };
  var port = event.target.form.querySelector("[data-port-for]");
  if (!port) { return; }
  var known = Object.values(defaults);
  if (port.value === "" || known.indexOf(port.value) !== -1) {
    port.value = defaults[event.target.value] || "";
  }
});

// A failed HTMX request never fails silently: its Russian error page opens in the modal.
document.addEventListener("htmx:responseError", function (event) {
  var xhr = event.detail.xhr;
  var body = xhr && xhr.responseText ? xhr.responseText :
    "<section class='card'><h1>Ошибка</h1><p>Не удалось выполнить действие.</p></section>";
  var content = document.getElementById("modal-content");
  var dialog = document.getElementById("modal");
  if (!content || !dialog) { return; }
  content.innerHTML = "<div class='modal-head'><h2 id='modal-title'>Действие не выполнено</h2>" +
    "<button type='button' class='link' data-close-modal aria-label='Закрыть'>✕</button></div>" +
    "<div class='modal-body'>" + body + "</div>";
  if (window.htmx) { window.htmx.process(content); }
  if (!dialog.open) { dialog.showModal(); }
});
document.addEventListener("htmx:sendError", function () {
  var content = document.getElementById("modal-content");
  var dialog = document.getElementById("modal");
  if (!content || !dialog) { return; }
  content.innerHTML = "<div class='modal-head'><h2 id='modal-title'>Нет связи с порталом</h2>" +
    "<button type='button' class='link' data-close-modal aria-label='Закрыть'>✕</button></div>" +
    "<div class='modal-body'><p>Запрос не дошёл до сервера. Проверьте подключение и повторите.</p></div>";
  if (!dialog.open) { dialog.showModal(); }
});

// Filter forms send only the fields that are filled in, so URLs stay short.
document.addEventListener("htmx:configRequest", function (event) {
  var form = event.detail.elt.closest && event.detail.elt.closest("form[data-clean-params]");
  if (!form || event.detail.verb !== "get") { return; }
  var data = event.detail.formData;
  if (!data) { return; }
  Array.from(data.keys()).forEach(function (key) {
    if (data.get(key) === "") { data.delete(key); }
  });
});

// «Тип авторизации»: no login fields without auth; a token, not a password, for OAuth 2.0.
(function () {
  "use strict";
  function sync(select) {
    var form = select.form;
    var login = form.querySelector("[name=login]");
    var password = form.querySelector("[name=password]");
    if (!login || !password) { return; }
    var none = select.value === "none";
    [login, password].forEach(function (input) {
      var field = input.closest(".field");
      if (field) { field.hidden = none; }
    });
    var label = form.querySelector("label[for=password]");
    if (label) { label.textContent = select.value === "xoauth2" ? "Токен доступа OAuth 2.0" : "Пароль"; }
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches("select[data-auth]")) { sync(event.target); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("select[data-auth]").forEach(sync);
  });
})();

// «Настройка SMTP отправки»: login and password only for «Другие логин и пароль».
(function () {
  "use strict";
  function sync(form) {
    var chosen = form.querySelector("input[name=auth_mode]:checked");
    var custom = chosen && chosen.value === "custom";
    ["login", "password"].forEach(function (name) {
      var input = form.querySelector("[name=" + name + "]");
      var field = input && input.closest(".field");
      if (field) { field.hidden = !custom; }
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches("input[name=auth_mode]")) { sync(event.target.form); }
  });
  document.addEventListener("htmx:afterSettle", function () {
    document.querySelectorAll("form#sending-form").forEach(sync);
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form#sending-form").forEach(sync);
  });
})();

// CRM: «Добавить получателя» adds a «Кому» field; «SMTP-сервера» opens its fields.
document.addEventListener("click", function (event) {
  var add = event.target.closest("[data-add-recipient]");
  if (add) {
    event.preventDefault();
    var box = add.closest("#recipients");
    var inputs = box.querySelectorAll("input");
    var next = inputs[inputs.length - 1].cloneNode();
    next.value = "";
    next.id = next.name = "to-" + inputs.length;
    add.before(next);
    next.focus();
  }
  var reveal = event.target.closest("[data-reveal]");
  if (reveal) {
    var target = document.getElementById(reveal.dataset.reveal);
    if (target) { event.preventDefault(); target.open = true; target.scrollIntoView(); }
  }
});

// «Подключить ящик»: the server fields only for manual settings or an unknown provider;
// a provider form shows OAuth 2.0 fields only for OAuth 2.0.
(function () {
  "use strict";
  function syncConnect(form) {
    var manual = form.querySelector("[name=manual]");
    var provider = form.querySelector("[name=provider_id]");
    var fieldset = form.querySelector("fieldset.manual");
    if (!manual || !fieldset) { return; }
    var show = manual.checked || !provider || !provider.value;
    fieldset.querySelectorAll(".field").forEach(function (field) {
      if (!field.querySelector("[name=manual]")) { field.hidden = !show; }
    });
  }
  function syncProvider(form) {
    var method = form.querySelector("[name=auth_method]");
    if (!method) { return; }
    ["oauth_client_id", "oauth_client_secret"].forEach(function (name) {
      var input = form.querySelector("[name=" + name + "]");
      if (input && input.closest(".field")) { input.closest(".field").hidden = method.value !== "oauth2"; }
    });
  }
  function syncAll() {
    document.querySelectorAll("form").forEach(function (form) { syncConnect(form); syncProvider(form); });
  }
  document.addEventListener("change", function (event) {
    if (event.target.form) { syncConnect(event.target.form); syncProvider(event.target.form); }
  });
  document.addEventListener("htmx:afterSettle", syncAll);
  document.addEventListener("DOMContentLoaded", syncAll);
})();
