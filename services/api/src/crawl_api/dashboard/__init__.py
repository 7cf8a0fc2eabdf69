"""The operators' dashboard: server-rendered HTML under ``/dashboard``, live by polling."""

from crawl_api.dashboard.controller import COOKIE, DashboardController, dashboard_routes

__all__ = ["COOKIE", "DashboardController", "dashboard_routes"]
