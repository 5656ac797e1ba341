// Runs from a file of the site (the Content-Security-Policy allows 'self' scripts only, never inline ones).
document.addEventListener("DOMContentLoaded", function () {
  document.getElementById("status").textContent = "script ran";
});
