from batteries.cli import main

main()
