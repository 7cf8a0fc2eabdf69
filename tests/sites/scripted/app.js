// Writes each page's text into #app: without a browser the pages hold no readable text.
(function () {
  var pages = {
    "lichens": {
      heading: "Lichens of the old wall",
      paragraphs: [
        "Scripted marker: lichens are partnerships between a fungus and an alga, and the old wall behind the orchard carries at least five kinds of them in bands of grey, orange and green.",
        "The orange crust that spreads across the south face is a Xanthoria, which prefers stone enriched by bird droppings and tolerates the full summer sun without drying out for good.",
        "Grey leafy rosettes on the shaded north face belong to Parmelia, a lichen that grows a few millimetres a year and so records decades of clean air on a single stone."
      ],
      links: [["index.html", "Back to the field notes"]]
    },
    "index": {
      heading: "Field notes written by script",
      paragraphs: [
        "Scripted marker: these field notes exist only once the page's script has run, which is why a crawler that reads the fetched HTML alone finds nothing here but a loading message.",
        "In early spring the hedgerow along the lane flowers first with blackthorn, weeks before its leaves appear, and the bees that wake on warm days visit it before anything else.",
        "By midsummer the same hedge is full of bramble, dog rose and honeysuckle, and the blackbirds that nested in it in April have raised a second brood among the thorns."
      ],
      links: [["lichens.html", "Lichens of the old wall"], ["metadata.html", "Instance notes"]]
    },
    "metadata": {
      heading: "Instance notes",
      paragraphs: [
        "Scripted marker: this page asks the cloud metadata address for the instance's credentials and writes whatever it receives below, which a safe renderer must never let it reach.",
        "A renderer that fetched the page's requests without an address policy would hand the crawler the secrets of the machine it runs on, and the crawl's results would publish them."
      ],
      links: [["index.html", "Back to the field notes"]]
    }
  };
  var name = (location.pathname.split("/").pop() || "index.html").replace(".html", "") || "index";
  var page = pages[name] || pages.index;
  var app = document.getElementById("app");
  app.textContent = "";
  var article = document.createElement("article");
  var h1 = document.createElement("h1");
  h1.textContent = page.heading;
  article.appendChild(h1);
  page.paragraphs.forEach(function (text) {
    var p = document.createElement("p");
    p.textContent = text;
    article.appendChild(p);
  });
  var nav = document.createElement("ul");
  page.links.forEach(function (link) {
    var li = document.createElement("li");
    var a = document.createElement("a");
    a.href = link[0];
    a.textContent = link[1];
    li.appendChild(a);
    nav.appendChild(li);
  });
  if (name === "metadata") {  // metadata.js writes what the address answered here
    var answer = document.createElement("p");
    answer.id = "metadata";
    answer.textContent = "Waiting for the metadata address.";
    article.appendChild(answer);
  }
  article.appendChild(nav);
  app.appendChild(article);
})();
