/* The inspector's page: fill in the position from the phone (no external service). */
(function () {
  "use strict";
  var button = document.getElementById("locate");
  if (!button) { return; }
  if (!navigator.geolocation) { button.disabled = true; return; }
  button.addEventListener("click", function () {
    navigator.geolocation.getCurrentPosition(function (p) {
      document.getElementById("lon").value = p.coords.longitude.toFixed(6);
      document.getElementById("lat").value = p.coords.latitude.toFixed(6);
    });
  });
})();
