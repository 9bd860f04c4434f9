"""District shapes for the maps: validated GeoJSON per pot (pb.core.districts.shapes), and the official's
upload page and the public file (pb.core.districts.views)."""
