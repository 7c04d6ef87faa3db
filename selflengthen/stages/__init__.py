"""Pipeline stages. Each is a pure prompt builder + a pure parser/gate + a short runner."""
