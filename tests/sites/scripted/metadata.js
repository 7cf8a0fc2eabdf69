// What a hostile page does: read the cloud metadata endpoint and publish the answer.
function report(text) {
  document.getElementById("metadata").textContent = text;
}
fetch("http://169.254.169.254/latest/meta-data/")
  .then(function (response) { return response.text(); })
  .then(function (text) { report("METADATA LEAKED: the instance answered " + text); })
  .catch(function () {
    report("The metadata request failed: metadata unreachable from this page, as it must be.");
  });
