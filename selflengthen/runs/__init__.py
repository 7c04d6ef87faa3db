"""A run and what it holds, as plain data: setting one up (`setup`: preset, config file, checked model
references in `models`, seed instructions in `seeds`), its status per iteration (`status`, what `status
--json` prints) and the numbers behind the Insights charts (`insights`).

May import: `selflengthen.method`, `selflengthen.config`, `selflengthen.inputs`, `selflengthen.errors`,
`selflengthen.shapes`.
"""
