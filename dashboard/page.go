package dashboard

import (
	"embed"
	"html/template"
	"io/fs"
	"net/http"
)

//go:embed assets
var assetFS embed.FS

// pageTemplate is the dashboard's one page; it carries the CSRF token.
var pageTemplate = template.Must(template.ParseFS(assetFS, "assets/index.html"))

// page serves the dashboard page.
func (h *Handler) page(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := pageTemplate.Execute(w, map[string]string{"CSRF": h.csrf}); err != nil {
		h.log.Error("dashboard: page", "error", err)
	}
}

// assets serves the script and style sheet.
func (h *Handler) assets() http.Handler {
	sub, _ := fs.Sub(assetFS, "assets")
	return http.StripPrefix("/assets/", http.FileServerFS(sub))
}
