from ledger_mcp.cli import main

main()
