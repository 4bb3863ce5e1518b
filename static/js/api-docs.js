// Renders /api/openapi.json with Swagger UI (kept out of the page: the CSP forbids inline script).
const root = document.getElementById("swagger-ui");
window.SwaggerUIBundle({ url: root.dataset.specUrl, domNode: root, deepLinking: true });
